"use strict";
(function () {
  const form = document.getElementById("survey-form");
  const api = "/api/surveys/" + encodeURIComponent(form.dataset.token) + "/responses";
  const ref = App.ref();  // one answer per page: a double tap or a retry is not counted twice
  App.bindForm(form, async (data) => {
    const payload = {client_ref: ref};
    for (const k of ["overall", "content", "performers", "organisation"]) if (data[k]) payload[k] = Number(data[k]);
    if (data.comment) payload.comment = data.comment;
    const wanted = (data.wanted || "").split(/[,，、\s]+/).map(s => s.trim()).filter(Boolean).slice(0, 5);
    if (wanted.length) payload.wanted_programs = wanted;
    if (!payload.overall) throw {message: t("请给总体满意度打分。"), fields: {overall: [t("请给总体满意度打分。")]}};
    await App.api("POST", api, payload);
    form.hidden = true;
    document.getElementById("survey-done").hidden = false;
  });
})();
