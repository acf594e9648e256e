"use strict";
(function () {
  const form = document.getElementById("register-form");
  const palace = form.elements.palace_id;
  const district = form.elements.district;
  const fillDistricts = () => {
    const names = (palace.selectedOptions[0] && palace.selectedOptions[0].dataset.districts || "").split(",").filter(Boolean);
    App.fill(district, names.map(n => App.el("option", {value: n}, n)));
  };
  const showRole = () => {
    const role = form.querySelector("input[name=role]:checked").value;
    form.querySelectorAll("[data-role]").forEach(box => { box.hidden = box.dataset.role !== role; });
  };
  palace.addEventListener("change", fillDistricts);
  form.querySelectorAll("input[name=role]").forEach(r => r.addEventListener("change", showRole));
  fillDistricts();
  showRole();
  let notice = null;
  App.api("GET", "/api/privacy").then(n => {
    notice = n;
    document.getElementById("notice-version").textContent = t("（第 {n} 版）", {n: n.version});
    document.getElementById("notice-body").textContent = n.text;
  }).catch(() => {});
  App.bindForm(form, async (data) => {
    const role = data.role;
    const profile = data[role] || {};
    profile.district = data.district;
    if (role === "volunteer") profile.skills = (profile.skills || "").split(/[,，、\s]+/).filter(Boolean);
    const payload = {username: data.username || "", password: data.password || "", role, palace_id: data.palace_id, [role]: profile};
    if (data.union_card) payload.union_card = data.union_card;
    if (data.email) payload.email = data.email;
    if (data.notice_agree && notice) payload.notice_version = notice.version;
    try {
      await App.api("POST", "/api/register", payload);
    } catch (err) {
      if (err.fields && err.fields[role] && err.fields[role].district) err.fields.district = err.fields[role].district;
      throw err;
    }
    form.hidden = true;
    document.getElementById("register-done").hidden = false;
  });
})();
