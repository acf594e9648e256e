/* 数据保存期限 (admins): how long each kind of personal data is kept, when each service last swept
   it, how many it removed and the oldest still kept; 立即清理 runs every sweep now. A table on a
   wide screen; on a phone each kind is a card of labelled lines (nothing wider than the screen). */
(function () {
  const el = App.el.bind(App);
  const tab = document.querySelector("[data-tab=retention]");
  const panel = document.querySelector("[data-panel=retention]");
  if (!tab || !panel) return;
  const body = panel.querySelector("#retention-table tbody");
  const sweep = panel.querySelector("#retention-sweep");
  const HEAD = [t("信息"), t("所在服务"), t("保存期限"), t("上次清理"), t("上次清理条数"), t("最早的一条")];

  function when(iso) { return iso ? App.fmt(iso) : "—"; }
  function row(k) {
    const cells = [
      [el("strong", {}, k.what)],
      [k.where],
      [k.period, k.setting ? el("div", {class: "muted"}, k.setting) : null],
      [k.how === "ttl" ? t("（随时）") : k.available ? when(k.swept_at) : t("服务暂时不可用")],
      [k.removed === null || k.removed === undefined ? "—" : String(k.removed)],
      [!k.available || !k.oldest ? "—" : k.how === "ttl" ? t("{time} 到期", {time: when(k.oldest)}) : when(k.oldest)],
    ];
    return el("tr", {dataset: {kind: k.kind}}, cells.map((c, i) => el("td", {"data-label": i ? HEAD[i] : null}, ...c)));
  }
  function show(data) { body.replaceChildren(...data.kinds.map(row)); }
  async function load() { show(await App.api("GET", "/api/retention")); }

  sweep.addEventListener("click", async () => {
    sweep.disabled = true;
    try {
      const data = await App.api("POST", "/api/retention/sweep");
      show(data);
      const removed = data.kinds.reduce((n, k) => n + (k.how === "ttl" ? 0 : k.removed || 0), 0);
      App.toast(t("已清理 {n} 条过期的个人信息。", {n: removed}));
    } catch (e) {
      App.toast(e.message || t("服务暂时出错，请稍后再试。"), true);
    } finally {
      sweep.disabled = false;
    }
  });

  /* App.me is there once the screen's own script has signed in */
  (async function start() {
    while (!App.me) await new Promise(r => setTimeout(r, 50));
    if (App.me.role !== "admin") return;
    tab.hidden = false;
    sweep.hidden = false;
    document.addEventListener("tab", (e) => { if (e.detail === "retention") load().catch(err => App.toast(err.message, true)); });
    if (location.hash.slice(1) === "retention") load().catch(err => App.toast(err.message, true));
  })();
})();
