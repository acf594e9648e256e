"use strict";
(function () {
  const form = document.getElementById("login-form");
  const next = new URLSearchParams(location.search).get("next");
  const go = (role) => {
    const home = window.ROLE_HOME[role] || "/login";
    location.href = next && next.startsWith("/") && !next.startsWith("//") && next.startsWith(home) ? next : home;
  };
  if (App.token()) {
    App.api("GET", "/api/me").then(me => go(me.role)).catch(() => localStorage.removeItem("token"));
  }
  App.bindForm(form, async (data) => {
    const session = await App.api("POST", "/api/login", {username: data.username || "", password: data.password || ""});
    localStorage.setItem("token", session.token);
    go(session.principal.role);
  });
})();
