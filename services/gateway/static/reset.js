"use strict";
(function () {
  const form = document.getElementById("reset-form");
  const token = new URLSearchParams(location.search).get("token") || "";
  App.bindForm(form, async (data) => {
    if ((data.new_password || "") !== (data.again || "")) {
      throw {message: t("两次输入的密码不一样。"), fields: {again: [t("两次输入的密码不一样。")]}};
    }
    await App.api("POST", "/api/password-reset", {token: token, new_password: data.new_password || ""});
    localStorage.removeItem("token");
    form.hidden = true;
    document.getElementById("reset-done").hidden = false;
  });
})();
