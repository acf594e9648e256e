"use strict";
(async function () {
  const me = await App.requireLogin(["dispatcher", "admin"]);
  const el = App.el;
  const form = document.getElementById("filters");
  const thisMonth = new Date(Date.now() + 8 * 3600000).toISOString().slice(0, 7);
  const yearAgo = (() => { const [y, m] = thisMonth.split("-").map(Number); const d = new Date(Date.UTC(y, m - 12, 1)); return d.toISOString().slice(0, 7); })();
  form.elements.start.value = yearAgo;
  form.elements.end.value = thisMonth;
  document.getElementById("report-month").value = thisMonth;
  if (me.role === "admin") {
    const palaces = await App.api("GET", "/api/palaces");
    App.fill("palace-select", el("option", {value: ""}, t("全部文化宫")), palaces.map(p => el("option", {value: p.palace_id}, p.name)));
    document.getElementById("palace-box").hidden = false;
  }
  const charts = {};
  const chart = (id) => charts[id] || (charts[id] = echarts.init(document.getElementById(id), null, {renderer: "svg"}));
  window.addEventListener("resize", () => Object.values(charts).forEach(c => c.resize()));
  const num = (v, digits) => v == null ? "—" : (digits != null ? Number(v).toFixed(digits) : Number(v).toLocaleString());
  const pct = (v) => v == null ? "—" : (v * 100).toFixed(1) + "%";

  function params() {
    const data = App.formData(form);
    const q = new URLSearchParams();
    for (const k of ["palace_id", "start", "end", "months"]) if (data[k] !== undefined && data[k] !== "") q.set(k, data[k]);
    return q;
  }
  function table(headers, rows) {
    if (!rows.length) return el("p", {class: "empty"}, t("暂无数据。"));
    return el("table", {}, el("thead", {}, el("tr", {}, headers.map(h => el("th", {}, h)))), el("tbody", {}, rows.map(r => el("tr", {}, r.map(c => el("td", {}, c))))));
  }
  function figureRows(rows, extra) {
    return table([t("名称"), t("服务场次"), t("服务人次"), t("满意度"), t("下单数"), t("拒绝"), t("取消"), ...(extra ? [t("点单率")] : [])],
      rows.map(r => [r.label, num(r.deliveries), num(r.people_served), num(r.satisfaction, 2), num(r.orders_placed), num(r.orders_rejected), num(r.orders_cancelled), ...(extra ? [pct(r.order_share)] : [])]));
  }

  async function load() {
    const q = params();
    const [report, board, cover, comments] = await Promise.all([
      App.api("GET", "/api/reports/dashboard?" + q), App.api("GET", "/api/reports/volunteers?" + q + "&limit=20"),
      App.api("GET", "/api/reports/coverage?" + q), App.api("GET", "/api/reports/comments?" + q + "&limit=20")]);
    const tt = report.totals;
    const card = (label, value, note) => el("div", {class: "card"}, el("span", {class: "muted"}, label), el("div", {class: "big"}, value), note ? el("div", {class: "muted"}, note) : null);
    App.fill("totals",
      card(t("服务场次"), num(tt.deliveries)), card(t("服务人次"), num(tt.people_served)),
      card(t("满意度"), num(tt.satisfaction, 2), t("{n} 份评议", {n: num(tt.responses)})),
      card(t("志愿服务时长"), num(tt.service_hours, 1), t("小时")),
      card(t("订单"), num(tt.orders_placed), t("拒绝 {r} · 取消 {c} · 无法安排 {u}", {r: tt.orders_rejected, c: tt.orders_cancelled, u: tt.orders_unfulfillable})),
      card(t("下单到排定"), num(tt.hours_to_schedule, 1), t("小时（平均）")),
      card(t("邀约婉拒率"), pct(tt.decline_rate), t("缺席 {n} 次", {n: tt.no_shows})));
    const months = report.months.map(m => m.month);
    chart("chart-months").setOption({
      tooltip: {trigger: "axis"}, legend: {top: 0}, grid: {left: 45, right: 45, bottom: 25, top: 30},
      xAxis: {type: "category", data: months}, yAxis: [{type: "value", name: t("场次")}, {type: "value", name: t("人次")}],
      series: [{name: t("服务场次"), type: "bar", data: report.months.map(m => m.deliveries), itemStyle: {color: "#b3261e"}},
        {name: t("服务人次"), type: "line", yAxisIndex: 1, data: report.months.map(m => m.people_served), itemStyle: {color: "#1d4f91"}}]}, true);
    chart("chart-satisfaction").setOption({
      tooltip: {trigger: "axis"}, legend: {top: 0}, grid: {left: 40, right: 20, bottom: 25, top: 30},
      xAxis: {type: "category", data: months}, yAxis: {type: "value", min: 1, max: 5},
      series: [["satisfaction", t("总体满意度")], ["content", t("节目内容")], ["performers", t("演员/老师表现")], ["organisation", t("组织安排")]].map(([k, name]) => ({
        name, type: "line", connectNulls: true, showSymbol: true, symbolSize: 8, data: report.months.map(m => m[k])}))}, true);
    const districts = report.by_district.slice(0, 15);
    chart("chart-districts").setOption({
      tooltip: {trigger: "axis"}, grid: {left: 80, right: 20, bottom: 25, top: 10},
      yAxis: {type: "category", data: districts.map(r => r.label).reverse()}, xAxis: {type: "value"},
      series: [{name: t("服务场次"), type: "bar", data: districts.map(r => r.deliveries).reverse(), itemStyle: {color: "#b3261e"}}]}, true);
    const programs = report.by_program.slice(0, 15);
    chart("chart-programs").setOption({
      tooltip: {trigger: "axis", valueFormatter: (v) => v + "%"}, grid: {left: 140, right: 20, bottom: 25, top: 10},
      yAxis: {type: "category", data: programs.map(r => r.label).reverse()}, xAxis: {type: "value", axisLabel: {formatter: "{value}%"}},
      series: [{name: t("点单率"), type: "bar", data: programs.map(r => +((r.order_share || 0) * 100).toFixed(1)).reverse(), itemStyle: {color: "#1e7a3c"}}]}, true);
    App.fill("volunteers", table([t("志愿者"), t("服务时长（小时）"), t("其中补记"), t("服务次数"), t("婉拒率"), t("缺席率"), ""],
      board.items.map(r => [r.name, num(r.hours, 1), num(r.granted_hours, 1), num(r.deliveries), pct(r.decline_rate), pct(r.no_show_rate),
        el("button", {type: "button", class: "link", onclick: (e) => download(e.target, `/api/volunteers/${encodeURIComponent(r.volunteer_id)}/certificate.pdf`, t("志愿服务时长证明") + "_" + r.name + ".pdf")}, t("时长证明"))])));
    App.fill("troupes", figureRows(report.by_troupe));
    App.fill("enterprises", figureRows(report.by_enterprise));
    App.fill("coverage-title", t("{n} 个月以上未送达", {n: cover.months}));
    App.fill("coverage", table([t("类别"), t("名称"), t("最近一次服务"), t("累计场次")],
      [...cover.enterprise.map(r => [t("企业工会"), r.label, r.last_served.slice(0, 10), num(r.deliveries)]),
       ...cover.district.map(r => [t("区域"), r.label, r.last_served.slice(0, 10), num(r.deliveries)])]));
    App.fill("wanted", table([t("节目"), t("提及次数")], report.by_wanted.slice(0, 20).map(r => [r.label, num(r.wanted)])));
    App.fill("comments", comments.length ? comments.map(c => el("li", {}, el("div", {class: "row"}, el("b", {class: "grow"}, c.program_title || ""), el("span", {}, t("{n} 分", {n: c.overall}))),
      el("div", {}, c.comment), el("div", {class: "muted"}, [c.district, App.fmt(c.at)].filter(Boolean).join(" · ")))) : el("li", {class: "empty"}, t("暂无意见。")));
  }

  const download = (button, path, name) => App.download(button, path, name);
  document.getElementById("export").onclick = (e) => download(e.target, "/api/reports/export.xlsx?" + params(), "report.xlsx");
  document.getElementById("monthly").onclick = (e) => {
    const q = params();
    q.delete("start"); q.delete("end"); q.delete("months");
    q.set("month", document.getElementById("report-month").value || thisMonth);
    download(e.target, "/api/reports/monthly.pdf?" + q, "monthly.pdf");
  };
  App.bindForm(form, load);
  await load();
  document.body.dataset.ready = "1";
})();
