/* 操作记录: who did what, when and from where, for the palace on screen (an admin: any palace).
   Filters by account, kind and days; 30 at a time with 更多; exported as Excel as filtered. */
(function () {
  const el = App.el.bind(App);
  const panel = document.querySelector("[data-panel=audit]");
  if (!panel) return;
  const form = panel.querySelector("#audit-filters");
  const list = panel.querySelector("#audit-list");
  const more = panel.querySelector("#audit-more");
  const kindSelect = form.querySelector("[name=kind]");
  let next = null;
  let kindsLoaded = false;
  const ROLE = {admin: t("管理员"), dispatcher: t("调度员"), enterprise: t("企业工会"), volunteer: t("志愿者")};

  function palace() { return App.me && App.me.role === "admin" ? localStorage.getItem("palace") || "" : ""; }
  function params(extra) {
    const q = new URLSearchParams();
    const data = App.formData(form);
    if (palace()) q.set("palace_id", palace());
    for (const k of ["username", "kind", "since", "until"]) if (data[k]) q.set(k, data[k]);
    for (const [k, v] of Object.entries(extra || {})) q.set(k, v);
    return q;
  }
  const SUBJECT = {order: t("订单"), volunteer: t("志愿者"), troupe: t("艺术团"), loan: t("借调"), no_show: t("缺席记录"),
    alliance: t("联盟"), account: t("账号"), survey: t("评议"), volunteers: t("志愿者名单"), troupes: t("艺术团名单"),
    programs: t("节目名单"), enterprises: t("企业工会名单"), registrations: t("注册申请"), audit: t("操作记录")};
  const LISTS = {volunteers: t("志愿者"), troupes: t("队伍"), programs: t("节目"), enterprises: t("企业工会"),
    registrations: t("注册申请"), audit: t("操作记录"), volunteer: t("志愿者"), crew: t("派单人员电话")};
  const DETAIL = {
    reason: [t("理由")], decision: [t("结果"), {approved: t("通过"), rejected: t("不通过")}], hours: [t("时长（小时）")],
    import_kind: [t("名单"), LISTS], what: [t("名单"), LISTS], created: [t("新建")], updated: [t("更新")], rows: [t("条数")],
  };
  function details(entry) {
    const d = entry.details || {};
    const parts = [];
    for (const [key, [label, values]] of Object.entries(DETAIL)) {
      if (d[key] === undefined || d[key] === null || d[key] === "") continue;
      parts.push(label + t("：") + ((values && values[d[key]]) || d[key]));
    }
    return parts.join(" · ");
  }
  function row(entry) {
    const who = entry.actor || {};
    const subject = entry.subject || {};
    return el("li", {class: "audit-entry"},
      el("div", {class: "row"},
        el("strong", {class: "grow"}, entry.kind_name),
        el("span", {class: "muted"}, App.fmt(entry.at))),
      el("div", {}, who.username === "system" ? t("系统") : who.username,
        who.role ? el("span", {class: "muted"}, " · " + (ROLE[who.role] || who.role)) : null,
        who.address ? el("span", {class: "muted"}, " · " + who.address) : null),
      subject.id ? el("div", {class: "muted wrap"}, (SUBJECT[subject.type] || subject.type || "") + " " + subject.id) : null,
      details(entry) ? el("div", {class: "muted wrap"}, details(entry)) : null);
  }
  async function load(append) {
    if (!kindsLoaded) {
      const kinds = await App.api("GET", "/api/audit/kinds");
      kindSelect.append(...kinds.map(k => el("option", {value: k.kind}, k.name)));
      kindsLoaded = true;
    }
    App.clearErrors(form);
    let page;
    try {
      page = await App.api("GET", "/api/audit?" + params(append && next ? {before: next, limit: 30} : {limit: 30}));
    } catch (err) {
      App.showErrors(form, err);
      return;
    }
    next = page.next;
    const rows = page.entries.map(row);
    if (append) list.append(...rows);
    else App.fill(list, rows.length ? rows : el("li", {class: "empty"}, t("没有符合条件的操作记录。")));
    more.hidden = !next;
  }
  form.addEventListener("submit", (e) => { e.preventDefault(); load(false); });
  more.addEventListener("click", () => load(true));
  panel.querySelector("#audit-export").addEventListener("click", (e) =>
    App.download(e.currentTarget, "/api/audit/export?" + params(), "audit.xlsx"));
  document.addEventListener("tab", (e) => { if (e.detail === "audit") load(false); });
  if (location.hash.slice(1) === "audit" && !panel.hidden) load(false);
})();
