/* 隐私政策 (admins): the notice as registration shows it, and publishing a new version of it. */
(function () {
  const tab = document.querySelector("[data-tab=privacy]");
  const form = document.getElementById("notice-editor");
  if (!tab || !form) return;
  async function load() {
    const notice = await App.api("GET", "/api/privacy");
    form.elements.text.value = notice.text;
    document.getElementById("notice-current").textContent = t("（当前第 {n} 版）", {n: notice.version});
  }
  App.bindForm(form, async (data) => {
    const done = await App.api("PUT", "/api/privacy", {text: data.text || ""});
    App.toast(t("已发布第 {n} 版隐私政策。", {n: done.version}));
    await load();
  });
  /* App.me is there once the screen's own script has signed in: the tab is the admin's only */
  (async function start() {
    while (!App.me) await new Promise(r => setTimeout(r, 50));
    if (App.me.role !== "admin") return;
    tab.hidden = false;
    document.addEventListener("tab", (e) => { if (e.detail === "privacy") load(); });
    if (location.hash.slice(1) === "privacy") load();
  })();
})();
