"use strict";
(async function () {
  const me = await App.requireLogin(["volunteer"]);
  const el = App.el;
  const vid = encodeURIComponent(me.volunteer_id);
  const params = new URLSearchParams(location.search);
  const show = App.tabs(document.querySelector(".tabs"));

  /* ---------------------------------------------------------------- offers */
  function where(o) { return [o.district, o.site_address].filter(Boolean).join(" · "); }
  let shownOffers = "";
  async function loadOffers() {
    const offers = await App.api("GET", `/api/volunteers/${vid}/offers?status=pending`);
    const seen = JSON.stringify(offers);
    if (seen === shownOffers) return;
    shownOffers = seen;
    const count = document.getElementById("offer-count");
    count.textContent = offers.length;
    count.hidden = !offers.length;
    App.fill("offers", offers.length ? offers.map(o => el("li", {dataset: {offer: o.offer_id}},
      el("div", {class: "row"}, el("b", {class: "grow"}, o.program_title || t("送文化服务")), badge(o.kind === "swap" ? "pending" : "accepted", o.skill)),
      el("div", {}, App.span(o.start, o.end)),
      el("div", {class: "muted"}, where(o)),
      el("div", {class: "muted"}, t("请在 {time} 前答复", {time: App.fmt(o.deadline)})),
      o.kind === "swap" ? el("div", {class: "muted"}, t("同事想把这次任务转给您。")) : null,
      el("div", {class: "actions"},
        el("button", {type: "button", class: "ok", onclick: (e) => App.act(e.target, async () => {
          await App.api("POST", `/api/offers/${o.offer_id}/accept`, {});
          App.toast(t("已接受，谢谢！"));
          await Promise.all([loadOffers(), loadSchedule()]);
        })}, t("接受")),
        el("button", {type: "button", onclick: () => decline(o)}, t("婉拒"))),
    )) : el("li", {class: "empty"}, t("暂时没有新的邀约。")));
  }
  function decline(o) {
    const d = document.getElementById("decline-dialog");
    const f = d.querySelector("form");
    f.reset();
    App.clearErrors(f);
    d.querySelector("[data-close]").onclick = () => d.close();
    f.onsubmit = async (event) => {
      event.preventDefault();
      const data = App.formData(f);
      try {
        await App.api("POST", `/api/offers/${o.offer_id}/decline`, data.reason ? {reason: data.reason} : {});
        d.close();
        App.toast(t("已婉拒。"));
        await loadOffers();
      } catch (err) { App.showErrors(f, err); }
    };
    d.showModal();
  }

  /* ---------------------------------------------------------------- schedule, check-in and -out */
  const attendance = {};
  async function checkIn(orderId, code) {
    const body = code ? {code} : {};
    await App.api("POST", `/api/orders/${orderId}/check-in`, body);
    App.toast(t("已签到。"));
    await loadSchedule();
  }
  /* why the hours are what they are (the API's code, in the reader's language) */
  function hoursReason(a) {
    switch (a && a.hours_reason) {
      case "not_checked_in": return t("未签到");
      case "short": return t("出勤不足 {share}%，未计时长", {share: Math.round((a.min_attendance_share == null ? 0.5 : a.min_attendance_share) * 100)});
      case "no_check_out": return t("未签退，时长计到服务结束");
      case "too_short": return t("不足 6 分钟，未计时长");
      default: return (a && a.hours_reason_text) || "";
    }
  }
  function dayTask(o) {
    const now = Date.now();
    const start = new Date(o.start).getTime(), end = new Date(o.end).getTime();
    const opens = o.check_in_opens_at ? new Date(o.check_in_opens_at).getTime() : start - 3600000;
    if (now < opens) return el("div", {class: "muted opens"}, t("签到将于 {time} 开放", {time: App.fmt(o.check_in_opens_at || new Date(opens).toISOString())}));
    if (now > end + 12 * 3600000) return null;  // only on the day
    const mine = attendance[o.order_id] || {};
    if (mine.checked_out_at) {
      const why = hoursReason(mine);
      return el("div", {class: "done"}, t("已签退 {time}", {time: App.fmtTime(mine.checked_out_at)}),
        mine.hours != null ? el("div", {class: "muted hours-reason"}, [t("{h} 小时", {h: mine.hours}), why].filter(Boolean).join(" · ")) : null);
    }
    if (mine.checked_in_at) {
      return el("div", {class: "actions"}, el("span", {class: "grow"}, t("已签到 {time}", {time: App.fmtTime(mine.checked_in_at)})),
        el("button", {type: "button", class: "primary", onclick: (e) => App.act(e.target, async () => {
          await App.api("POST", `/api/orders/${o.order_id}/check-out`, {});
          App.toast(t("已签退，辛苦了！"));
          await loadSchedule();
        })}, t("签退")));
    }
    const form = el("form", {class: "row checkin", novalidate: true},
      el("input", {name: "code", inputmode: "numeric", maxlength: "6", placeholder: t("现场签到码"), "aria-label": t("现场签到码"), class: "grow"}),
      el("button", {type: "submit", class: "primary"}, t("签到")),
      el("div", {class: "err form-error"}));
    App.bindForm(form, (data) => checkIn(o.order_id, data.code || ""));
    return form;
  }
  async function loadSchedule() {
    const offers = await App.api("GET", `/api/volunteers/${vid}/offers?status=accepted`);
    const soon = offers.filter(o => Math.abs(new Date(o.start).getTime() - Date.now()) < 36 * 3600000);
    await Promise.all(soon.map(async (o) => {
      try {
        const plan = await App.api("GET", `/api/orders/${o.order_id}/plan`);
        attendance[o.order_id] = (plan.attendance || []).find(a => a.volunteer_id === me.volunteer_id) || {};
      } catch (e) { attendance[o.order_id] = {}; }
    }));
    const upcoming = offers.filter(o => new Date(o.end).getTime() > Date.now() - 12 * 3600000).sort((a, b) => a.start.localeCompare(b.start));
    App.fill("schedule", upcoming.length ? upcoming.map(o => el("li", {dataset: {order: o.order_id}},
      el("div", {class: "row"}, el("b", {class: "grow"}, o.program_title || t("送文化服务")), badge("accepted", o.skill)),
      el("div", {}, App.span(o.start, o.end)),
      el("div", {class: "muted"}, where(o)),
      dayTask(o))) : el("li", {class: "empty"}, t("近期没有安排。")));
  }

  /* ---------------------------------------------------------------- hours */
  async function loadHours() {
    const h = await App.api("GET", `/api/volunteers/${vid}/hours`);
    App.fill("hour-totals",
      el("div", {class: "card"}, el("span", {class: "muted"}, t("本月")), el("div", {class: "big"}, t("{h} 小时", {h: h.month}))),
      el("div", {class: "card"}, el("span", {class: "muted"}, t("本年")), el("div", {class: "big"}, t("{h} 小时", {h: h.year}))),
      el("div", {class: "card"}, el("span", {class: "muted"}, t("累计")), el("div", {class: "big"}, t("{h} 小时", {h: h.all})),
        el("div", {class: "muted"}, t("共 {n} 次服务", {n: h.deliveries}))));
    App.fill("hour-items", h.items.length ? h.items.map(i => el("li", {},
      el("div", {class: "row"}, el("b", {class: "grow"}, i.program_title || t("送文化服务")), el("span", {class: "score"}, t("{h} 小时", {h: (i.hours + i.granted_hours).toFixed(1)}))),
      el("div", {class: "muted"}, App.span(i.start, i.end)),
      i.hours_reason ? el("div", {class: "muted hours-reason"}, hoursReason(i)) : null,
      i.granted_hours ? el("div", {class: "muted"}, t("调度员补记"), " · ", t("其中补记 {h} 小时", {h: i.granted_hours})) : null)) : el("li", {class: "empty"}, t("还没有服务时长记录。")));
  }

  /* ---------------------------------------------------------------- availability */
  function freeRow(w) {
    const row = el("div", {class: "row"},
      el("input", {type: "datetime-local", class: "w-start", "aria-label": t("开始时间"), value: w ? App.toLocal(w.start) : ""}),
      el("span", {}, "—"),
      el("input", {type: "datetime-local", class: "w-end", "aria-label": t("结束时间"), value: w ? App.toLocal(w.end) : ""}),
      el("button", {type: "button", "aria-label": t("删除这个时间段"), onclick: () => row.remove()}, "×"));
    document.getElementById("free-windows").append(row);
  }
  const lending = document.getElementById("lending");
  lending.addEventListener("change", async () => {
    lending.disabled = true;
    try {
      const done = await App.api("PUT", `/api/volunteers/${vid}/lending`, {allowed: lending.checked});
      App.toast(done.allowed ? t("已同意随队借调。") : t("已撤回随队借调的同意。"));
    } catch (err) {
      lending.checked = !lending.checked;
      App.toast(err.message, true);
    } finally { lending.disabled = false; }
  });
  async function loadFree() {
    App.api("GET", `/api/volunteers/${vid}/lending`).then(c => { lending.checked = c.allowed; }).catch(() => {});
    const v = await App.api("GET", `/api/volunteers/${vid}`);
    document.getElementById("free-windows").replaceChildren();
    (v.availability || []).filter(w => new Date(w.end).getTime() > Date.now()).forEach(freeRow);
    if (!document.querySelector("#free-windows .row")) freeRow();
  }
  document.getElementById("add-free").onclick = () => freeRow();
  document.getElementById("certificate").onclick = (e) => App.download(e.target, `/api/volunteers/${vid}/certificate.pdf`, t("志愿服务时长证明") + ".pdf");
  App.bindForm(document.getElementById("free-form"), async () => {
    const availability = [...document.querySelectorAll("#free-windows .row")].map(r => ({
      start: App.fromLocal(r.querySelector(".w-start").value), end: App.fromLocal(r.querySelector(".w-end").value),
    })).filter(w => w.start || w.end);
    await App.api("PUT", `/api/volunteers/${vid}/availability`, {availability});
    App.toast(t("空闲时间已保存。"));
  });

  /* ---------------------------------------------------------------- a check-in QR code scanned on site */
  if (params.get("checkin")) {
    const card = document.getElementById("checkin-card");
    card.hidden = false;
    App.fill("checkin-what", t("签到码 {code}", {code: params.get("code") || ""}));
    document.getElementById("checkin-go").onclick = (e) => App.act(e.target, async () => {
      await checkIn(params.get("checkin"), params.get("code") || "");
      card.hidden = true;
      history.replaceState(null, "", location.pathname + "#schedule");
    });
    show("schedule");
  }

  const link = await App.api("GET", `/api/volunteers/${vid}/calendar`);
  document.getElementById("ics-link").href = link.webcal;
  const feed = App.fill("ics-url", link.url);
  feed.title = link.url;
  document.getElementById("ics-copy").onclick = async () => {
    try {
      await navigator.clipboard.writeText(link.url);
      App.toast(t("地址已复制。"));
    } catch (e) {  // no clipboard (plain http, an older phone): the address is selected for a long press
      feed.style.whiteSpace = "normal";
      feed.style.overflowWrap = "anywhere";
      getSelection().selectAllChildren(feed);
      App.toast(t("请长按选中的地址复制。"));
    }
  };
  document.addEventListener("tab", (e) => {
    if (e.detail === "hours") loadHours();
    if (e.detail === "free") loadFree();
    if (e.detail === "schedule") loadSchedule();
  });
  App.poll(loadOffers, 5000);
  loadSchedule();
  if (location.hash === "#hours") loadHours();
  if (location.hash === "#free") loadFree();
  document.body.dataset.ready = "1";  // the screen is wired up (browser tests wait for this)
})();
