"use strict";
(async function () {
  const me = await App.requireLogin(["enterprise"]);
  const el = App.el;
  const show = App.tabs(document.querySelector(".tabs"));
  let programs = [];
  const palace = (await App.api("GET", "/api/palaces")).find(p => p.palace_id === me.palace_id) || {};
  const districts = (palace.districts || []).map(d => d.name);
  if (!districts.length && palace.district) districts.push(palace.district);
  /* the union's own district is the form's default (the palace's list may lack it) */
  let home = "";
  try { home = (await App.api("GET", "/api/enterprises/" + encodeURIComponent(me.enterprise_id))).district || ""; }
  catch (e) { /* the palace's first district then */ }
  if (home && !districts.includes(home)) districts.unshift(home);

  /* a live count under long texts, red over the limit: nothing typed or pasted is cut */
  function counters(root) {
    root.querySelectorAll("[data-max]").forEach(field => {
      if (field.updateCount) { field.updateCount(); return; }
      const out = root.querySelector(`[data-count="${CSS.escape(field.name)}"]`);
      if (!out) return;
      const max = Number(field.dataset.max);
      const update = () => {
        const n = field.value.trim().length;
        out.textContent = n + "/" + max;
        out.classList.toggle("over", n > max);
      };
      field.addEventListener("input", update);
      field.updateCount = update;
      update();
    });
  }
  const recount = (root) => root.querySelectorAll("[data-max]").forEach(f => f.updateCount && f.updateCount());

  /* ---------------------------------------------------------------- catalog */
  function needsText(p) {
    return p.needs.map(n => t("{skill} {n} 人", {skill: n.skill, n: n.count})).join("、");
  }
  async function loadCatalog() {
    programs = await App.api("GET", "/api/programs?palace_id=" + encodeURIComponent(me.palace_id));
    App.fill("catalog", programs.length ? programs.map(p => el("div", {class: "card"},
      el("h3", {}, p.title), el("div", {class: "row"}, badge("x", kindLabel(p.kind)), el("span", {class: "muted"}, t("约 {n} 分钟", {n: p.duration_minutes}))),
      p.description ? el("p", {}, p.description) : null,
      el("p", {class: "muted"}, t("人员："), needsText(p)),
      p.site_requirements ? el("p", {class: "muted"}, t("场地要求："), p.site_requirements) : null,
      el("button", {type: "button", class: "primary", onclick: () => { select.value = p.program_id; select.dispatchEvent(new Event("change")); show("order"); }}, t("点这个节目")),
    )) : el("p", {class: "empty"}, t("文化宫还没有发布节目。")));
    App.fill(select, el("option", {value: ""}, t("请选择节目")), programs.map(p => el("option", {value: p.program_id}, p.title + " · " + kindLabel(p.kind))),
      el("option", {value: "__custom"}, t("其他（自定义需求）")));
  }

  /* ---------------------------------------------------------------- order form */
  const form = document.getElementById("order-form");
  const select = document.getElementById("program-select");
  let clientRef = App.ref();
  App.fill("district-select", districts.map(d => el("option", {value: d, selected: d === home}, d)));
  const homeDistrict = () => { if (home) document.getElementById("district-select").value = home; };
  homeDistrict();
  counters(form);
  select.addEventListener("change", () => {
    const p = programs.find(x => x.program_id === select.value);
    document.getElementById("custom-box").hidden = select.value !== "__custom";
    App.fill("program-info", p ? [t("人员："), needsText(p), p.site_requirements ? " · " + t("场地要求：") + p.site_requirements : ""] : []);
    suggest();
  });
  document.getElementById("district-select").addEventListener("change", () => suggest());
  /* the dates the palace could staff now for the chosen program (read only: nothing is held);
     tapping one fills the first window */
  let asked = 0;
  async function suggest() {
    const box = document.getElementById("suggested");
    const program = select.value;
    if (!program || program === "__custom") { box.hidden = true; return; }
    const mine = ++asked;
    const district = document.getElementById("district-select").value;
    let found = null;
    try {
      found = await App.api("GET", `/api/palaces/${encodeURIComponent(me.palace_id)}/staffable-windows?program_id=${encodeURIComponent(program)}` +
        (district ? "&district=" + encodeURIComponent(district) : ""));
    } catch (e) { found = null; }
    if (mine !== asked) return;  // the program or district changed meanwhile
    box.hidden = found === null;
    if (found === null) return;
    App.fill("suggested-list", found.length
      ? found.map(w => el("button", {type: "button", class: "suggested-window", onclick: () => useWindow(w)}, App.span(w.start, w.end)))
      : el("span", {class: "muted"}, t("未来三周暂时排不出人；也可以填别的时间，文化宫会尽量安排。")));
  }
  function useWindow(w) {
    const first = document.querySelector("#windows .window");
    first.querySelector(".w-start").value = App.toLocal(w.start);
    first.querySelector(".w-end").value = App.toLocal(w.end);
    form.dispatchEvent(new Event("input"));
    App.toast(t("已填入 {when}。", {when: App.span(w.start, w.end)}));
  }
  function addWindow(start, end) {
    const row = el("div", {class: "row"},
      el("input", {type: "datetime-local", "aria-label": t("开始时间"), value: start || "", class: "w-start"}),
      el("span", {}, "—"),
      el("input", {type: "datetime-local", "aria-label": t("结束时间"), value: end || "", class: "w-end"}),
      el("button", {type: "button", "aria-label": t("删除这个时间段"), onclick: () => { if (document.querySelectorAll("#windows .row").length > 1) { row.remove(); box.remove(); } }}, "×"));
    const box = el("div", {class: "window"}, row, el("div", {class: "err w-err-start"}), el("div", {class: "err w-err-end"}));
    document.getElementById("windows").append(box);
  }
  const day = new Date(Date.now() + 7 * 86400000 + 8 * 3600000).toISOString().slice(0, 10);
  addWindow(day + "T14:00", day + "T17:00");
  document.getElementById("add-window").onclick = () => addWindow();
  const repeat = document.getElementById("repeat");
  repeat.onchange = () => { document.getElementById("repeat-box").hidden = !repeat.value; };
  form.addEventListener("input", () => { clientRef = clientRef || App.ref(); });

  App.bindForm(form, async (data) => {
    const windows = [];
    for (const box of document.querySelectorAll("#windows .window")) {
      const w = {start: App.fromLocal(box.querySelector(".w-start").value), end: App.fromLocal(box.querySelector(".w-end").value)};
      const start = box.querySelector(".w-err-start"), end = box.querySelector(".w-err-end");
      start.removeAttribute("data-err"); end.removeAttribute("data-err");
      if (!(w.start || w.end)) continue;
      /* the server names a window by its place in what is sent: its messages go under it */
      const name = repeat.value ? (windows.length ? null : "first_window") : "windows." + windows.length;
      if (name) { start.dataset.err = name + ".start"; end.dataset.err = name + ".end"; }
      windows.push(w);
    }
    const payload = {...data};
    if (payload.program_id === "__custom") delete payload.program_id;
    else delete payload.custom_request;
    if (repeat.value) {
      payload.first_window = windows[0] || null;
      payload.rrule = "FREQ=" + repeat.value + ";COUNT=" + (document.getElementById("repeat-count").value || "2");
      payload.series_ref = clientRef;
      const placed = await App.api("POST", "/api/orders/recurring", payload);
      App.toast(t("已提交 {n} 个订单。", {n: placed.length}));
    } else {
      payload.windows = windows;
      payload.client_ref = clientRef;
      await App.api("POST", "/api/orders", payload);
      App.toast(t("订单已提交，等待文化宫受理。"));
    }
    clientRef = App.ref();  // the next order is a new one; a retry of this one was the same
    form.reset();
    homeDistrict();
    recount(form);
    select.dispatchEvent(new Event("change"));
    await loadOrders(true);
    show("orders");
  });

  /* ---------------------------------------------------------------- my orders */
  const open = new Set();
  function when(o) {
    if (o.scheduled_start) return App.span(o.scheduled_start, o.scheduled_end);
    return (o.windows || []).map(w => App.span(w.start, w.end)).join("；");
  }
  function timeline(o) {
    return el("ol", {class: "timeline"}, (o.history || []).map(h => el("li", {},
      el("b", {}, statusLabel(h.status)), " ", el("span", {class: "muted"}, App.fmt(h.at)), h.reason ? el("div", {class: "muted"}, h.reason) : null)));
  }
  async function svgInto(box, path) {
    const r = await fetch(path, {headers: {Authorization: "Bearer " + App.token()}});
    if (!r.ok) return;
    const svg = new DOMParser().parseFromString(await r.text(), "image/svg+xml").documentElement;
    box.replaceChildren(document.importNode(svg, true));
  }
  async function details(o, box) {
    const parts = [timeline(o)];
    if (["scheduled", "delivered", "closed"].includes(o.status)) {
      try {
        const plan = await App.api("GET", `/api/orders/${o.order_id}/plan`);
        if (plan.crew && plan.crew.length) parts.push(el("p", {}, t("服务人员："), plan.crew.map(c => (c.name || c.volunteer_id) + "（" + c.skill + "）").join("、")));
        if (o.status === "scheduled" && plan.sign_in_code) {
          const qr = el("div", {class: "qr sign-in-qr"});
          parts.push(el("div", {class: "card"}, el("h3", {}, t("现场签到码")), el("div", {class: "code"}, plan.sign_in_code),
            el("p", {class: "muted"}, t("服务当天请出示给志愿者：输入签到码或扫码签到。")), qr));
          svgInto(qr, `/api/orders/${o.order_id}/sign-in/qr.svg`);
        }
      } catch (e) { /* no plan yet */ }
    }
    if (["scheduled", "delivered", "closed"].includes(o.status)) {
      try {
        const survey = await App.api("GET", `/api/orders/${o.order_id}/survey`);
        const link = location.origin + survey.link;
        const qr = el("div", {class: "qr survey-qr"});
        parts.push(el("div", {class: "card"}, el("h3", {}, t("观众评议")),
          el("p", {}, survey.status === "scheduled" ? t("服务结束后请工人们扫码评议，约一分钟（可以先贴出海报）：") : t("请工人们扫码评议，约一分钟：")),
          qr, el("p", {}, el("a", {href: survey.link, target: "_blank", rel: "noopener"}, link)),
          survey.status === "scheduled" ? null : el("p", {class: "muted"}, t("已收到 {n} 份评议", {n: survey.responses || 0}))));
        svgInto(qr, `/api/orders/${o.order_id}/survey/qr.svg`);
      } catch (e) { /* the survey is prepared a moment after the order is scheduled */ }
    }
    const actions = el("div", {class: "actions"});
    if (["submitted", "accepted", "unfulfillable"].includes(o.status)) actions.append(el("button", {type: "button", onclick: () => amend(o)}, t("修改")));
    if (["submitted", "accepted", "unfulfillable", "scheduled"].includes(o.status)) actions.append(el("button", {type: "button", onclick: () => cancel(o)}, t("取消订单")));
    if (["scheduled", "delivered", "closed"].includes(o.status)) actions.append(el("button", {type: "button", class: "poster", onclick: (e) => App.download(e.target, `/api/orders/${o.order_id}/poster.pdf`, "poster-" + o.order_id + ".pdf")}, t("下载海报（PDF）")));
    if (o.status === "delivered" && !o.delivery_confirmed_at) actions.append(el("button", {type: "button", class: "ok", onclick: (e) => App.act(e.target, async () => {
      await App.api("POST", `/api/orders/${o.order_id}/confirm`); App.toast(t("已确认服务。")); await loadOrders();
    })}, t("确认已服务")));
    parts.push(actions);
    if (open.has(o.order_id)) App.refill(box, parts);  // redrawn only when something changed
  }
  function orderItem(o) {
    const box = el("div", {class: "detail"});
    box.refresh = () => (open.has(o.order_id) ? details(o, box) : null);
    const li = el("li", {dataset: {order: o.order_id, status: o.status}},
      el("div", {class: "row"},
        el("b", {class: "grow"}, o.program_title || o.custom_request || t("自定义需求")),
        o.placed_by && o.placed_by.role !== "enterprise" ? el("span", {class: "badge placed-by"}, t("文化宫代下")) : null,
        badge(o.status, statusLabel(o.status))),
      el("div", {class: "muted"}, when(o), " · ", o.site_address, " · ", t("{n} 人", {n: o.audience_size})),
      o.status === "closed" && o.satisfaction != null ? el("div", {class: "satisfaction"}, t("满意度 {s} 分（{n} 份评议）", {s: o.satisfaction.toFixed(2), n: o.responses || 0})) : null,
      o.people_served != null ? el("div", {class: "muted"}, t("服务 {n} 人次", {n: o.people_served})) : null,
      el("button", {type: "button", class: "link", onclick: () => { if (open.has(o.order_id)) { open.delete(o.order_id); box.replaceChildren(); } else { open.add(o.order_id); details(o, box); } }},
        t("详情")),
      box);
    if (open.has(o.order_id)) details(o, box);
    return li;
  }
  let shown = "";
  async function loadOrders(force) {
    const page = await App.api("GET", "/api/orders?per_page=100");
    const seen = JSON.stringify(page.items);
    if (seen === shown && force !== true) {  // nothing changed: keep what the reader is looking at; what is open follows
      await Promise.all([...document.querySelectorAll("#orders .detail")].map(box => box.refresh && box.refresh()));
      return;
    }
    shown = seen;
    App.fill("orders", page.items.length ? page.items.map(orderItem) : el("li", {class: "empty"}, t("还没有订单。")));
  }

  /* ---------------------------------------------------------------- amend, cancel */
  function dialog(id, onSubmit) {
    const d = document.getElementById(id);
    const f = d.querySelector("form");
    d.querySelectorAll("[data-close]").forEach(b => { b.onclick = () => d.close(); });
    f.onsubmit = async (event) => {
      event.preventDefault();
      const button = f.querySelector("button[type=submit]");
      button.disabled = true;
      try { await onSubmit(App.formData(f)); d.close(); await loadOrders(); }
      catch (err) { App.showErrors(f, err); }
      finally { button.disabled = false; }
    };
    App.clearErrors(f);
    return {d, f};
  }
  function cancel(o) {
    const {d, f} = dialog("cancel-dialog", async (data) => {
      await App.api("POST", `/api/orders/${o.order_id}/cancel`, data.reason ? {reason: data.reason} : {});
      App.toast(t("订单已取消。"));
    });
    f.reset();
    counters(f);
    d.showModal();
  }
  function amend(o) {
    const {d, f} = dialog("amend-dialog", async (data) => {
      const changes = {};
      for (const k of ["audience_size", "site_address", "contact_name", "contact_phone", "note"]) {
        if (data[k] !== undefined && data[k] !== o[k]) changes[k] = data[k];
      }
      await App.api("PATCH", `/api/orders/${o.order_id}`, changes);
      App.toast(t("订单已修改。"));
    });
    for (const k of ["audience_size", "site_address", "contact_name", "contact_phone", "note"]) f.elements[k].value = o[k] == null ? "" : o[k];
    counters(f);
    d.showModal();
  }

  await loadCatalog();
  App.poll(loadOrders, 8000);
  document.body.dataset.ready = "1";  // the screen is wired up (browser tests wait for this)
})();
