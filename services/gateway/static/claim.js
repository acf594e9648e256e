"use strict";
(function () {
  const form = document.getElementById("claim-form");
  const code = new URLSearchParams(location.search).get("code") || "";
  if (code) {
    form.elements.code.value = code.length === 8 ? code.slice(0, 4) + "-" + code.slice(4) : code;
    form.elements.phone_last4.focus();
  }
  App.bindForm(form, async (data) => {
    if ((data.password || "") !== (data.again || "")) {
      throw {message: t("两次输入的密码不一样。"), fields: {again: [t("两次输入的密码不一样。")]}};
    }
    const session = await App.api("POST", "/api/claim", {
      code: data.code || "", phone_last4: data.phone_last4 || "", username: data.username || "", password: data.password || ""});
    localStorage.setItem("token", session.token);
    location.href = "/app/volunteer";
  });
  document.body.dataset.ready = "1";
})();
