"use strict";
(async function () {
  const me = await App.requireLogin(["dispatcher", "admin"]);
  const el = App.el;
  const CRITERIA = {serve: t("完成订单"), underserved: t("照顾久未送达的企业和区域"), travel: t("路程近"), fairness: t("工作量均衡"), troupe: t("与同团队员同行"), preference: t("符合本人意愿")};
  const EXCLUDED = {unavailable: t("不在本人可服务时间内"), busy: t("该时段已有安排"), rest: t("与前后安排的间隔不足"), week_limit: t("本周服务次数已满"), month_limit: t("本月服务时长已满"), too_far: t("路程超出上限"), taken: t("已被安排担任其他角色")};
  let palaceId = me.palace_id;
  let people = {}, programs = [], troupes = [];

  /* an admin picks the palace; a dispatcher works in their own */
  if (me.role === "admin") {
    const palaces = await App.api("GET", "/api/palaces");
    const select = document.getElementById("palace-select");
    App.fill(select, palaces.map(p => el("option", {value: p.palace_id}, p.name)));
    palaceId = localStorage.getItem("palace") || (palaces[0] && palaces[0].palace_id);
    select.value = palaceId;
    select.onchange = () => { localStorage.setItem("palace", select.value); location.reload(); };
    document.getElementById("palace-bar").hidden = false;
  }
  const pid = encodeURIComponent(palaceId);
  const name = (vid) => (people[vid] && people[vid].name) || vid;

  async function loadPeople() {
    const [vs, ps, ts] = await Promise.all([
      App.api("GET", "/api/volunteers?palace_id=" + pid), App.api("GET", "/api/programs?palace_id=" + pid), App.api("GET", "/api/troupes?palace_id=" + pid)]);
    people = Object.fromEntries(vs.map(v => [v.volunteer_id, v]));
    programs = ps;
    troupes = ts;
  }

  /* ---------------------------------------------------------------- dialogs */
  function askReason(title, label, fn) {
    const d = document.getElementById("reason-dialog");
    const f = d.querySelector("form");
    f.reset();
    App.clearErrors(f);
    App.fill("reason-title", title);
    App.fill("reason-label", label);
    d.querySelector("[data-close]").onclick = () => d.close();
    f.onsubmit = async (event) => {
      event.preventDefault();
      try { await fn(f.elements.reason.value.trim()); d.close(); }
      catch (err) { App.showErrors(f, err); }
    };
    d.showModal();
  }
  /* fields: [{name, label, type, options, value, hint}] */
  function edit(title, fields, save) {
    const d = document.getElementById("edit-dialog");
    const f = d.querySelector("form");
    App.fill("edit-title", title);
    App.fill("edit-fields", fields.map(x => {
      let input;
      if (x.type === "select") input = el("select", {name: x.name}, x.options.map(([v, l]) => el("option", {value: v, selected: String(x.value) === String(v)}, l)));
      else if (x.type === "textarea") input = el("textarea", {name: x.name, rows: "3"}, x.value == null ? "" : x.value);
      else input = el("input", {name: x.name, type: x.type || "text", value: x.value == null ? "" : x.value, readonly: x.readonly});
      return [el("label", {}, x.label, input), x.hint ? el("div", {class: "muted"}, x.hint) : null, el("div", {class: "err", "data-err": x.name})];
    }));
    App.clearErrors(f);
    d.querySelector("[data-close]").onclick = () => d.close();
    f.onsubmit = async (event) => {
      event.preventDefault();
      const button = f.querySelector("button[type=submit]");
      button.disabled = true;
      try { await save(App.formData(f)); d.close(); }
      catch (err) { App.showErrors(f, err); }
      finally { button.disabled = false; }
    };
    d.showModal();
  }
  const list = (s) => (s || "").split(/[,，、\s]+/).map(x => x.trim()).filter(Boolean);

  /* ---------------------------------------------------------------- board */
  let shownInbox = "";
  async function loadBoard() {
    const [board, inbox, regs] = await Promise.all([
      App.api("GET", `/api/palaces/${pid}/board`),
      App.api("GET", `/api/orders?palace_id=${pid}&status=submitted&per_page=100`),
      App.api("GET", `/api/registrations?palace_id=${pid}`)]);
    App.fill("status-counts", Object.keys(ORDER_STATUS).map(s => el("button", {type: "button", dataset: {status: s}, onclick: () => { filter.value = s; loadOrders(); showTab("orders"); }},
      el("span", {}, statusLabel(s)), el("b", {}, board.orders[s] || 0))));
    const count = document.getElementById("inbox-count");
    count.textContent = inbox.total;
    count.hidden = !inbox.total;
    const rc = document.getElementById("reg-count");
    rc.textContent = regs.length;
    rc.hidden = !regs.length;
    const seen = JSON.stringify(inbox.items);
    if (seen !== shownInbox) {
      shownInbox = seen;
      App.fill("inbox", inbox.items.length ? inbox.items.map(o => orderItem(o)) : el("li", {class: "empty"}, t("没有待受理的订单。")));
    }
    App.fill("offers-pending", t("共 {n} 个", {n: board.offers_pending}));
    App.fill("due-soon", board.offers_due_soon.length ? board.offers_due_soon.map(o => el("li", {},
      el("div", {class: "row"}, el("b", {class: "grow"}, name(o.volunteer_id)), badge("pending", o.skill)),
      el("div", {class: "muted"}, o.program_title || "", " · ", App.span(o.start, o.end)),
      el("div", {class: "muted"}, t("{time} 到期", {time: App.fmt(o.deadline)})))) : el("li", {class: "empty"}, t("没有即将到期的邀约。")));
    if (!document.querySelector("[data-panel=registrations]").hidden) renderRegistrations(regs);
  }

  /* ---------------------------------------------------------------- orders and their plans */
  const filter = document.getElementById("status-filter");
  App.fill(filter, el("option", {value: ""}, t("全部")), Object.keys(ORDER_STATUS).map(s => el("option", {value: s}, statusLabel(s))));
  filter.onchange = () => loadOrders();
  const open = new Set();

  function orderItem(o) {
    const box = el("div", {class: "detail"});
    box.refresh = () => (open.has(o.order_id) ? orderDetail(o, box) : null);
    const when = o.scheduled_start ? App.span(o.scheduled_start, o.scheduled_end) : (o.windows || []).map(w => App.span(w.start, w.end)).join("；");
    const toggle = () => { if (open.has(o.order_id)) { open.delete(o.order_id); box.replaceChildren(); } else { open.add(o.order_id); orderDetail(o, box); } };
    const actions = el("div", {class: "actions"});
    if (o.status === "submitted") {
      actions.append(
        el("button", {type: "button", class: "ok", onclick: (e) => accept(o, e.target)}, t("受理")),
        el("button", {type: "button", onclick: () => askReason(t("拒绝订单"), t("拒绝理由（企业会看到）"), async (reason) => {
          await App.api("POST", `/api/orders/${o.order_id}/reject`, {reason});
          App.toast(t("已拒绝。"));
          await refresh();
        })}, t("拒绝")));
    }
    const li = el("li", {dataset: {order: o.order_id, status: o.status}},
      el("div", {class: "row"}, el("b", {class: "grow"}, o.program_title || o.custom_request || t("自定义需求")), badge(o.status, statusLabel(o.status))),
      el("div", {}, o.enterprise_name || o.enterprise_id, " · ", o.district, " · ", t("{n} 人", {n: o.audience_size})),
      placedBy(o),
      el("div", {class: "muted"}, when),
      actions,
      el("button", {type: "button", class: "link", onclick: toggle}, t("详情")),
      box);
    if (open.has(o.order_id)) orderDetail(o, box);
    return li;
  }
  async function accept(o, button) {
    if (!o.program_id) {
      edit(t("受理自定义需求"), [{name: "program_id", label: t("按哪个节目安排"), type: "select", options: programs.map(p => [p.program_id, p.title])},
        {name: "note", label: t("备注（可选）"), type: "textarea"}], async (data) => {
        await App.api("POST", `/api/orders/${o.order_id}/accept`, data);
        App.toast(t("已受理，正在安排人员。"));
        await refresh();
      });
      return;
    }
    await App.act(button, async () => {
      await App.api("POST", `/api/orders/${o.order_id}/accept`, {});
      App.toast(t("已受理，正在安排人员。"));
      await refresh();
    });
  }
  /* why these people, in a dispatcher's words; the planner's numbers behind a toggle */
  const km = (x) => t("{km} 公里", {km: Number(x).toFixed(1)});
  function servedLately(days, who) {
    if (days === undefined) return null;
    if (days === null) return who === "district" ? t("该区县还没有送过") : t("该企业第一次得到服务");
    if (days < 30) return null;
    return who === "district" ? t("该区县 {n} 天未送过", {n: days}) : t("该企业 {n} 天未得到服务", {n: days});
  }
  function whyChosen(c, shown) {
    const f = c.facts || {};
    const nearest = Math.min(...shown.map(x => (x.facts || {}).km).filter(x => x !== undefined));
    const least = Math.min(...shown.map(x => (x.facts || {}).month_hours).filter(x => x !== undefined));
    const said = {
      travel: f.km === undefined ? null : (f.km <= nearest ? t("距离最近（{km}）", {km: km(f.km)}) : t("距离 {km}", {km: km(f.km)})),
      fairness: f.month_hours === undefined ? null : (f.month_hours <= least ? t("本月服务时长最少（{h} 小时）", {h: f.month_hours}) : t("本月已服务 {h} 小时", {h: f.month_hours})),
      troupe: f.in_troupe ? t("与同团队员同行") : null,
      preference: f.likes ? t("符合本人意愿") : null,
    };
    const order = Object.entries(c.criteria || {}).sort((a, b) => b[1] - a[1]).map(([k]) => k);
    return order.map(k => said[k]).filter(Boolean).slice(0, 3).join("，");
  }
  function whyNot(r, chosen) {
    const f = r.facts || {}, best = (chosen[0] || {}).facts || {};
    if (r.lost_on === "tie" || r.behind_by <= 0) return t("条件相同，按名单顺序选了前者");
    return {
      travel: t("路程更远（{km}，入选者 {best}）", {km: km(f.km), best: km(best.km)}),
      fairness: t("本月已服务 {h} 小时，入选者 {best} 小时", {h: f.month_hours, best: best.month_hours}),
      troupe: t("不是同一团队的队员"),
      preference: t("不在本人选的节目类型或区县内"),
    }[r.lost_on] || (CRITERIA[r.lost_on] || r.lost_on);
  }
  function explanation(exp) {
    if (!exp || !exp.roles) return null;
    const days = exp.unserved_days || {};
    const lately = [servedLately(days.district, "district"), servedLately(days.enterprise, "enterprise")].filter(Boolean);
    return el("div", {class: "explain"}, el("h3", {}, t("为什么是这些人")),
      lately.length ? el("p", {}, t("优先安排："), lately.join("，")) : null,
      exp.roles.map(role => {
        const shown = [...role.chosen, ...role.runners_up];
        return el("div", {class: "card"},
          el("b", {}, role.skill),
          el("ul", {class: "why"},
            role.chosen.map(c => el("li", {dataset: {volunteer: c.volunteer_id}}, "✓ ", el("b", {}, name(c.volunteer_id)), "：", whyChosen(c, shown) || t("符合条件"))),
            role.runners_up.map(r => el("li", {class: "muted", dataset: {volunteer: r.volunteer_id}}, name(r.volunteer_id), "：", t("未选，"), whyNot(r, role.chosen)))),
          Object.keys(role.excluded || {}).length ? el("p", {class: "muted"}, t("未入选："), Object.entries(role.excluded).map(([k, n]) => t("{why} {n} 人", {why: EXCLUDED[k] || k, n})).join("，")) : null,
          el("details", {class: "numbers"}, el("summary", {}, t("评分明细")),
            el("div", {class: "table-wrap"}, el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, t("人选")), el("th", {}, t("得分")), Object.keys(role.chosen[0] ? role.chosen[0].criteria : {}).map(k => el("th", {}, CRITERIA[k] || k)), el("th", {}, t("差在哪里")))),
              el("tbody", {},
                role.chosen.map(c => el("tr", {}, el("td", {}, "✓ ", name(c.volunteer_id)), el("td", {class: "score"}, c.score), Object.values(c.criteria).map(v => el("td", {class: "score"}, v)), el("td", {}, ""))),
                role.runners_up.map(r => el("tr", {class: "muted"}, el("td", {}, name(r.volunteer_id)), el("td", {class: "score"}, r.score), Object.values(r.criteria).map(v => el("td", {class: "score"}, v)),
                  el("td", {}, r.lost_on === "tie" || r.behind_by <= 0 ? t("同分") : t("{what}（少 {by}）", {what: CRITERIA[r.lost_on] || r.lost_on, by: r.behind_by})))))))));
      }));
  }
  /* why a volunteer's hours are what they are (the API's code, in the reader's language) */
  function hoursReason(a) {
    if (!a) return "";
    switch (a.hours_reason) {
      case "not_checked_in": return t("未签到");
      case "short": return t("出勤不足 {share}%，未计时长", {share: Math.round((a.min_attendance_share == null ? 0.5 : a.min_attendance_share) * 100)});
      case "no_check_out": return t("未签退，时长计到服务结束");
      case "too_short": return t("不足 6 分钟，未计时长");
      case "granted": return t("调度员补记");
      default: return a.hours_reason_text || "";
    }
  }
  function attendanceCell(a) {
    if (!a || (!a.checked_in_at && !a.hours_reason)) return "";
    const time = a.checked_in_at ? [t("已签到 {time}", {time: App.fmtTime(a.checked_in_at)}),
      a.checked_out_at ? el("div", {}, t("已签退 {time}", {time: App.fmtTime(a.checked_out_at)})) : null] : "";
    const counted = a.hours != null && (a.checked_out_at || a.hours_reason) ? t("{h} 小时", {h: a.hours}) : "";
    const why = hoursReason(a);
    return [time, counted || why ? el("div", {class: "muted hours-reason"}, [counted, why].filter(Boolean).join(" · ")) : null];
  }
  /* 服务完成: who checked in, and what it means for hours when nobody did, before confirming */
  async function completeDialog(o, box) {
    const plan = await App.api("GET", `/api/orders/${o.order_id}/plan`);
    const attended = Object.fromEntries((plan.attendance || []).map(a => [a.volunteer_id, a]));
    const present = (plan.crew || []).filter(c => (attended[c.volunteer_id] || {}).checked_in_at);
    const nobody = !present.length;
    const fields = [{name: "people_served", label: t("服务人次"), type: "number", value: o.audience_size}];
    if (nobody) fields.push({name: "reason", label: t("没有签到的原因"), type: "textarea", hint: t("例如：现场代签未登记")});
    edit(t("服务完成"), fields, async (data) => {
      if (!data.reason) delete data.reason;
      await App.api("POST", `/api/orders/${o.order_id}/complete`, data);
      App.toast(t("已记录服务完成。"));
      await refresh();
    });
    const crew = (plan.crew || []).map(c => {
      const a = attended[c.volunteer_id];
      return el("li", {dataset: {volunteer: c.volunteer_id}}, el("b", {}, c.name || name(c.volunteer_id)), " ",
        a && a.checked_in_at ? attendanceCell(a) : el("span", {class: "muted"}, t("未签到")));
    });
    document.getElementById("edit-fields").prepend(el("div", {class: "complete-summary"},
      el("p", {}, t("已签到 {n} / {total} 人", {n: present.length, total: (plan.crew || []).length})),
      el("ul", {class: "list"}, crew),
      nobody ? el("p", {class: "warn-nobody", role: "alert", style: "color:var(--red);font-weight:600"}, t("无人签到：志愿者不计服务时长，可稍后由调度员补记时长。")) : null));
  }
  async function orderDetail(o, box) {
    const parts = [
      el("p", {}, t("地点："), o.site_address, " · ", t("联系人："), o.contact_name, " ", o.contact_phone),
      o.custom_request ? el("p", {}, t("自定义需求："), o.custom_request) : null,
      o.note ? el("p", {class: "muted"}, t("备注："), o.note) : null,
      el("ol", {class: "timeline"}, (o.history || []).map(h => el("li", {}, el("b", {}, statusLabel(h.status)), " ", el("span", {class: "muted"}, App.fmt(h.at)), h.reason ? el("div", {class: "muted"}, h.reason) : null))),
    ];
    let plan = null;
    try { plan = await App.api("GET", `/api/orders/${o.order_id}/plan`); } catch (e) { /* not accepted yet */ }
    if (plan) {
      parts.push(el("h3", {}, t("派单安排")),
        plan.start ? el("p", {}, App.span(plan.start, plan.end), plan.troupe_id ? " · " + ((troupes.find(x => x.troupe_id === plan.troupe_id) || {}).name || plan.troupe_id) : "") : null,
        plan.reason ? el("p", {class: "err"}, plan.reason) : null,
        plan.sign_in_code ? el("p", {}, t("签到码："), el("b", {}, plan.sign_in_code)) : null);
      const attended = Object.fromEntries([...(plan.hours || []), ...(plan.attendance || [])].map(a => [a.volunteer_id, {...a}]));
      parts.push(el("table", {class: "offers"}, el("thead", {}, el("tr", {}, el("th", {}, t("志愿者")), el("th", {}, t("角色")), el("th", {}, t("状态")), el("th", {}, t("签到")), el("th", {}, ""))),
        el("tbody", {}, plan.offers.map(of => el("tr", {dataset: {volunteer: of.volunteer_id}},
          el("td", {}, name(of.volunteer_id), of.kind === "override" ? el("span", {class: "muted"}, " " + t("（指定）")) : null,
            !people[of.volunteer_id] ? el("span", {class: "muted"}, " " + t("（联盟借用）")) : null,
            (plan.phones || {})[of.volunteer_id] ? el("div", {}, el("a", {class: "tel", href: "tel:" + plan.phones[of.volunteer_id].replace(/[^0-9+]/g, "")}, plan.phones[of.volunteer_id])) : null),
          el("td", {}, of.skill),
          el("td", {}, badge(of.status, offerLabel(of.status)), of.reason ? el("div", {class: "muted"}, of.reason) : null),
          el("td", {class: "attendance"}, attendanceCell(attended[of.volunteer_id])),
          el("td", {}, of.status === "accepted" && plan.status === "scheduled" ? [
            !(attended[of.volunteer_id] || {}).checked_in_at ? el("button", {type: "button", onclick: (e) => App.act(e.target, async () => {
              await App.api("POST", `/api/orders/${o.order_id}/check-in`, {volunteer_id: of.volunteer_id}); App.toast(t("已代为签到。")); await orderDetail(o, box);
            })}, t("代签到")) : null,
            el("button", {type: "button", onclick: () => askReason(t("登记缺席"), t("情况说明"), async (reason) => {
              await App.api("POST", `/api/orders/${o.order_id}/no-show`, {volunteer_id: of.volunteer_id, reason}); App.toast(t("已登记缺席，正在找人顶替。")); await orderDetail(o, box);
            })}, t("缺席"))] : null))))));
      parts.push(explanation(plan.explanation));
      const acts = el("div", {class: "actions"});
      if (["planning", "unfulfillable", "scheduled"].includes(plan.status)) {
        acts.append(el("button", {type: "button", onclick: () => {
          const skills = [...new Set((plan.needs || []).map(n => n.skill))];
          edit(t("指定人选"), [
            {name: "skill", label: t("角色"), type: "select", options: skills.map(s => [s, s])},
            {name: "volunteer_id", label: t("志愿者"), type: "select", options: Object.values(people).map(v => [v.volunteer_id, v.name + "（" + (v.skills || []).join("、") + "）"])}],
          async (data) => { await App.api("POST", `/api/orders/${o.order_id}/plan/assign`, data); App.toast(t("已发出邀约。")); await orderDetail(o, box); });
        }}, t("指定人选")));
      }
      if (["planning", "unfulfillable"].includes(plan.status) && me.role === "dispatcher") {
        const suggested = (plan.explanation && plan.explanation.alliance_troupes) || [];
        suggested.forEach(st => acts.append(el("button", {type: "button", class: "ok", dataset: {loan: st.troupe_id}, onclick: () => askLoan(o, st.troupe_id)},
          t("申请借用「{name}」", {name: st.name}))));
        acts.append(el("button", {type: "button", onclick: () => askLoan(o)}, t("借用联盟队伍")));
      }
      if (plan.status === "scheduled") {
        acts.append(el("button", {type: "button", class: "ok", onclick: (e) => App.act(e.target, () => completeDialog(o, box))}, t("服务完成")));
      }
      if (plan.status === "delivered") {
        const served = plan.offers.filter(of => ["accepted", "no_show", "handed_over"].includes(of.status));
        acts.append(el("button", {type: "button", onclick: () => edit(t("补记时长"), [
          {name: "volunteer_id", label: t("志愿者"), type: "select", options: served.map(of => [of.volunteer_id, name(of.volunteer_id)])},
          {name: "hours", label: t("小时"), type: "number", value: 1},
          {name: "reason", label: t("原因"), type: "textarea"}],
        async (data) => { await App.api("POST", `/api/orders/${o.order_id}/hours`, data); App.toast(t("已补记时长。")); await orderDetail(o, box); })}, t("补记时长")),
        el("button", {type: "button", onclick: (e) => App.act(e.target, async () => {
          await App.api("POST", `/api/orders/${o.order_id}/survey/close`); App.toast(t("评议已结束。")); await refresh();
        })}, t("结束评议")));
      }
      if (["scheduled", "delivered"].includes(plan.status)) {
        acts.append(el("button", {type: "button", class: "poster", onclick: (e) => App.download(e.target, `/api/orders/${o.order_id}/poster.pdf`, "poster-" + o.order_id + ".pdf")}, t("下载海报（PDF）")));
      }
      parts.push(acts);
    }
    if (open.has(o.order_id)) App.refill(box, parts);  // redrawn only when something changed
  }
  let shownOrders = "";
  async function loadOrders() {
    const q = filter.value ? "&status=" + filter.value : "";
    const page = await App.api("GET", `/api/orders?palace_id=${pid}&per_page=100${q}`);
    const seen = filter.value + JSON.stringify(page.items);
    if (seen === shownOrders) return;
    shownOrders = seen;
    App.fill("orders", page.items.length ? page.items.map(o => orderItem(o)) : el("li", {class: "empty"}, t("没有订单。")));
  }

  /* ---------------------------------------------------------------- calendar */
  let weekStart = (() => {
    const now = new Date(Date.now() + 8 * 3600000);
    const day = (now.getUTCDay() + 6) % 7;
    return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - day) - 8 * 3600000);
  })();
  async function loadWeek() {
    const end = new Date(weekStart.getTime() + 7 * 86400000);
    App.fill("week-label", App.fmt(weekStart.toISOString(), {hour: undefined, minute: undefined}) + " – " + App.fmt(new Date(end.getTime() - 1).toISOString(), {hour: undefined, minute: undefined}));
    const items = await App.api("GET", `/api/palaces/${pid}/deliveries?start=${encodeURIComponent(weekStart.toISOString())}&end=${encodeURIComponent(end.toISOString())}`);
    const days = [];
    for (let i = 0; i < 7; i++) {
      const d0 = weekStart.getTime() + i * 86400000;
      const mine = items.filter(x => { const s = new Date(x.start).getTime(); return s >= d0 && s < d0 + 86400000; });
      days.push(el("div", {class: "card"}, el("h3", {}, App.fmt(new Date(d0).toISOString(), {hour: undefined, minute: undefined})),
        mine.length ? el("ul", {class: "list"}, mine.map(x => el("li", {}, el("div", {class: "row"}, el("b", {class: "grow"}, App.fmtTime(x.start) + "–" + App.fmtTime(x.end) + " " + (x.program_title || "")), badge(x.status, statusLabel(x.status))),
          el("div", {class: "muted"}, [x.district, x.site_address].filter(Boolean).join(" · "), x.people_served != null ? " · " + t("服务 {n} 人次", {n: x.people_served}) : "")))) : el("p", {class: "muted"}, t("无安排"))));
    }
    App.fill("week", el("div", {class: "grid"}, days));
  }
  document.getElementById("week-prev").onclick = () => { weekStart = new Date(weekStart.getTime() - 7 * 86400000); loadWeek(); };
  document.getElementById("week-next").onclick = () => { weekStart = new Date(weekStart.getTime() + 7 * 86400000); loadWeek(); };

  /* ---------------------------------------------------------------- registrations */
  /* what the dispatcher checks before approving: who to call, and the details given */
  function registrationFacts(r) {
    const p = r.profile || {};
    const phone = p.contact_phone || p.phone;
    const tel = phone ? el("a", {href: "tel:" + phone.replace(/[^0-9+]/g, "")}, phone) : null;
    const facts = r.role === "enterprise"
      ? [p.contact_name ? t("联系人：") + p.contact_name : t("未填联系人"), tel, p.district, p.address]
      : [tel, p.district, (p.skills || []).length ? t("特长：") + p.skills.join("、") : null];
    if (r.email) facts.push(r.email);
    return el("div", {class: "muted facts"}, facts.filter(Boolean).map((f, i) => [i ? " · " : "", f]));
  }
  function renderRegistrations(regs) {
    App.fill("registrations", regs.length ? regs.map(r => el("li", {dataset: {username: r.username}},
      el("div", {class: "row"}, el("b", {class: "grow"}, r.display_name || r.username), badge("pending", r.role === "enterprise" ? t("企业工会") : t("志愿者"))),
      el("div", {class: "muted"}, t("用户名："), r.username, r.union_card ? " · " + t("会员卡号：") + r.union_card : "", " · ", App.fmt(r.created_at)),
      registrationFacts(r),
      el("div", {class: "actions"},
        el("button", {type: "button", class: "ok", onclick: (e) => App.act(e.target, async () => {
          await App.api("POST", `/api/registrations/${encodeURIComponent(r.username)}/approve`); App.toast(t("已通过。")); await loadRegistrations(); await loadPeople();
        })}, t("通过")),
        el("button", {type: "button", onclick: () => askReason(t("不通过"), t("理由（申请人登录时会看到）"), async (reason) => {
          await App.api("POST", `/api/registrations/${encodeURIComponent(r.username)}/reject`, {reason}); App.toast(t("已拒绝。")); await loadRegistrations();
        })}, t("不通过"))))) : el("li", {class: "empty"}, t("没有待审核的注册。")));
  }
  async function loadRegistrations() { renderRegistrations(await App.api("GET", `/api/registrations?palace_id=${pid}`)); }

  /* ---------------------------------------------------------------- accounts: find one, reset its password */
  /* a one-time link (and a claim code) shown once, to hand over, with a copy button */
  function showSecret(title, text, code, link, until) {
    const d = document.getElementById("secret-dialog");
    App.fill("secret-title", title);
    App.fill("secret-text", text);
    App.fill("secret-code", code || "");
    document.getElementById("secret-code").hidden = !code;
    const input = document.getElementById("secret-link");
    input.value = link;
    App.fill("secret-until", until ? t("{time} 前有效，只能用一次。", {time: App.fmt(until)}) : "");
    document.getElementById("secret-copy").onclick = async () => {
      try { await navigator.clipboard.writeText(link); }
      catch (e) { input.select(); document.execCommand("copy"); }  // an intranet address over http has no clipboard API
      App.toast(t("已复制。"));
    };
    d.querySelector("[data-close]").onclick = () => d.close();
    d.showModal();
  }
  const ROLE_NAMES = {enterprise: t("企业工会"), dispatcher: t("调度员"), volunteer: t("志愿者"), admin: t("管理员")};
  async function resetPassword(username, button) {
    return App.act(button, async () => {
      const made = await App.api("POST", `/api/accounts/${encodeURIComponent(username)}/password-reset`);
      showSecret(t("重置 {username} 的密码", {username}), t("把这个链接交给本人（当面或电话里念给对方）；打开后设置新密码，原来的登录都会退出。"),
        null, made.link, made.expires_at);
    });
  }
  const accountSearch = document.getElementById("account-search");
  App.bindForm(accountSearch, async (data) => {
    const found = await App.api("GET", `/api/accounts?palace_id=${pid}&q=${encodeURIComponent(data.q || "")}`);
    App.fill("accounts", found.length ? found.map(a => el("li", {dataset: {username: a.username}},
      el("div", {class: "row"}, el("b", {class: "grow"}, a.display_name || a.username), badge(a.active ? "accepted" : "pending", ROLE_NAMES[a.role] || a.role)),
      el("div", {class: "muted"}, t("用户名："), a.username, a.volunteer_id ? " · " + name(a.volunteer_id) : "", a.active ? "" : " · " + t("未开通")),
      el("div", {class: "actions"}, a.role === "admin" ? null : [
        el("button", {type: "button", class: "reset-password", onclick: (e) => resetPassword(a.username, e.currentTarget)}, t("重置密码")),
        el("button", {type: "button", class: "record-erasure", onclick: (e) => recordErasure(a.username, e.currentTarget)}, t("登记注销申请"))]))) :
      el("li", {class: "empty"}, t("没有找到账号。")));
  });

  /* ---------------------------------------------------------------- erasures: recorded, pending until due, cancellable */
  async function recordErasure(username, button) {
    if (!confirm(t("确认 {username} 本人要求注销账号？宽限期满后将删除或匿名化其个人信息。", {username}))) return;
    return App.act(button, async () => {
      const made = await App.api("POST", `/api/accounts/${encodeURIComponent(username)}/erasure`);
      App.toast(t("已登记，将于 {time} 执行。", {time: App.fmt(made.due_at)}));
      await loadErasures();
    });
  }
  async function loadErasures() {
    const found = await App.api("GET", `/api/erasures?palace_id=${pid}`);
    App.fill("erasures", found.length ? found.map(x => el("li", {dataset: {username: x.username}},
      el("div", {class: "row"}, el("b", {class: "grow"}, x.username), badge("pending", ROLE_NAMES[x.role] || x.role || "")),
      el("div", {class: "muted"}, t("{time} 执行", {time: App.fmt(x.due_at)}), " · ", t("登记人："), x.requested_by || ""),
      el("div", {class: "actions"}, el("button", {type: "button", class: "cancel-erasure", onclick: (e) => App.act(e.currentTarget, async () => {
        await App.api("POST", `/api/accounts/${encodeURIComponent(x.username)}/erasure/cancel`);
        App.toast(t("已撤销注销申请。"));
        await loadErasures();
      })}, t("撤销"))))) : el("li", {class: "empty"}, t("没有待执行的注销申请。")));
  }
  loadErasures().catch(() => {});

  /* ---------------------------------------------------------------- volunteers' accounts: claimed or invited */
  let invitations = {};
  function accountState(v) {
    const x = invitations[v.volunteer_id] || {status: "none"};
    const said = {
      claimed: t("已认领（{username}）", {username: x.username}),
      invited: t("已邀请，{time} 前有效", {time: App.fmt(x.expires_at)}),
      expired: t("邀请已过期"),
      none: t("未邀请"),
    }[x.status];
    const send = x.status === "claimed" ? null : el("button", {type: "button", class: "invite", onclick: (e) => App.act(e.currentTarget, async () => {
      const made = await App.api("POST", `/api/volunteers/${encodeURIComponent(v.volunteer_id)}/invitation`);
      showSecret(t("{name} 的账号邀请", {name: v.name}), t("已发短信到 {phone}（如已开通短信）。也可以把邀请码告诉本人：打开链接，输入邀请码和手机号后四位，设置用户名和密码。以前的邀请码已作废。", {phone: v.phone}),
        made.code, made.link, made.expires_at);
      await loadResources();
    })}, x.status === "none" ? t("发送邀请") : t("重发邀请"));
    return [el("div", {class: "account-state " + x.status}, said), send];
  }

  /* ---------------------------------------------------------------- programs, troupes, volunteers */
  const newId = (prefix) => prefix + "-" + Date.now().toString(36);
  function table(headers, rows) {
    return el("table", {}, el("thead", {}, el("tr", {}, headers.map(h => el("th", {}, h)))), el("tbody", {}, rows));
  }
  function editProgram(p) {
    p = p || {program_id: newId("p"), needs: []};
    edit(p.title ? t("修改节目") : t("新增节目"), [
      {name: "title", label: t("节目名称"), value: p.title},
      {name: "kind", label: t("类型"), type: "select", value: p.kind, options: Object.entries(KINDS)},
      {name: "duration_minutes", label: t("时长（分钟）"), type: "number", value: p.duration_minutes || 90},
      {name: "needs", label: t("人员需求"), value: (p.needs || []).map(n => n.skill + "×" + n.count).join("，"), hint: t("例如：声乐×2，舞蹈×4")},
      {name: "site_requirements", label: t("场地要求"), type: "textarea", value: p.site_requirements},
      {name: "description", label: t("介绍"), type: "textarea", value: p.description}],
    async (data) => {
      const needs = list(data.needs).map(x => { const [skill, count] = x.split(/[×xX*]/); return {skill: (skill || "").trim(), count: Number(count || 1)}; });
      await App.api("PUT", `/api/programs/${encodeURIComponent(p.program_id)}`, {...data, palace_id: palaceId, needs, description: data.description || "", site_requirements: data.site_requirements || ""});
      App.toast(t("已保存。"));
      await loadResources();
    });
  }
  function editTroupe(tr) {
    tr = tr || {troupe_id: newId("t"), members: [], repertoire: []};
    edit(tr.name ? t("修改艺术团") : t("新增艺术团"), [
      {name: "name", label: t("名称"), value: tr.name},
      {name: "district", label: t("所在区域"), value: tr.district},
      {name: "members", label: t("队员编号"), value: tr.members.join("，"), hint: t("用逗号分隔")},
      {name: "repertoire", label: t("保留节目编号"), value: tr.repertoire.join("，"), hint: t("用逗号分隔")},
      {name: "max_deliveries_per_week", label: t("每周最多场次（可选）"), type: "number", value: tr.max_deliveries_per_week}],
    async (data) => {
      await App.api("PUT", `/api/troupes/${encodeURIComponent(tr.troupe_id)}`, {...data, palace_id: palaceId, members: list(data.members), repertoire: list(data.repertoire)});
      App.toast(t("已保存。"));
      await loadResources();
    });
  }
  function editVolunteer(v) {
    v = v || {volunteer_id: newId("v"), skills: [], troupe_ids: []};
    edit(v.name ? t("修改志愿者") : t("新增志愿者"), [
      {name: "name", label: t("姓名"), value: v.name},
      {name: "phone", label: t("手机号"), type: "tel", value: v.phone},
      {name: "skills", label: t("特长"), value: (v.skills || []).join("，"), hint: t("用逗号分隔")},
      {name: "district", label: t("所在区域"), value: v.district},
      {name: "troupe_ids", label: t("所属艺术团编号"), value: (v.troupe_ids || []).join("，")},
      {name: "union_card", label: t("工会会员互助服务卡号（可选）"), value: v.union_card},
      {name: "max_deliveries_per_week", label: t("每周最多服务次数（可选）"), type: "number", value: v.max_deliveries_per_week},
      {name: "max_hours_per_month", label: t("每月最多服务小时（可选）"), type: "number", value: v.max_hours_per_month},
      {name: "availability", label: t("空闲时间"), type: "textarea", value: (v.availability || []).map(w => App.toLocal(w.start).replace("T", " ") + " ~ " + App.toLocal(w.end).replace("T", " ")).join("\n"),
        hint: t("每行一段，例如：2026-12-05 09:00 ~ 2026-12-05 18:00")}],
    async (data) => {
      const availability = (data.availability || "").split("\n").map(x => x.trim()).filter(Boolean).map(line => {
        const [a, b] = line.split("~").map(s => s.trim().replace(" ", "T"));
        return {start: App.fromLocal(a), end: App.fromLocal(b)};
      });
      const payload = {...data, palace_id: palaceId, skills: list(data.skills), troupe_ids: list(data.troupe_ids), availability};
      await App.api("PUT", `/api/volunteers/${encodeURIComponent(v.volunteer_id)}`, payload);
      App.toast(t("已保存。"));
      await loadResources();
    });
  }
  async function loadResources() {
    const [, states] = await Promise.all([loadPeople(), App.api("GET", `/api/palaces/${pid}/invitations`)]);
    invitations = Object.fromEntries(states.map(x => [x.volunteer_id, x]));
    App.fill("programs", table([t("节目"), t("类型"), t("时长"), t("人员需求"), ""], programs.map(p => el("tr", {},
      el("td", {}, p.title, el("div", {class: "muted"}, p.program_id)), el("td", {}, kindLabel(p.kind)), el("td", {}, t("{n} 分钟", {n: p.duration_minutes})),
      el("td", {}, p.needs.map(n => n.skill + "×" + n.count).join("，")), el("td", {}, el("button", {type: "button", onclick: () => editProgram(p)}, t("修改")))))));
    App.fill("troupes", table([t("艺术团"), t("区域"), t("队员"), t("保留节目"), ""], troupes.map(tr => el("tr", {},
      el("td", {}, tr.name, el("div", {class: "muted"}, tr.troupe_id)), el("td", {}, tr.district), el("td", {}, tr.members.map(name).join("、")),
      el("td", {}, tr.repertoire.map(id => (programs.find(p => p.program_id === id) || {}).title || id).join("、")), el("td", {}, el("button", {type: "button", onclick: () => editTroupe(tr)}, t("修改")))))));
    App.fill("volunteers", table([t("志愿者"), t("特长"), t("区域"), t("空闲时间"), t("账号"), ""], Object.values(people).map(v => el("tr", {dataset: {volunteer: v.volunteer_id}},
      el("td", {}, v.name, el("div", {class: "muted"}, v.volunteer_id + " · " + v.phone)), el("td", {}, (v.skills || []).join("、")), el("td", {}, v.district),
      el("td", {}, t("{n} 段", {n: (v.availability || []).filter(w => new Date(w.end).getTime() > Date.now()).length})),
      el("td", {}, accountState(v)),
      el("td", {}, el("button", {type: "button", onclick: () => editVolunteer(v)}, t("修改")))))));
  }
  document.getElementById("new-program").onclick = () => editProgram();
  document.getElementById("new-troupe").onclick = () => editTroupe();
  document.getElementById("new-volunteer").onclick = () => editVolunteer();

  /* ---------------------------------------------------------------- the alliance: shared troupes and loans */
  const LOAN_STATUS = {pending: t("待答复"), approved: t("已同意"), refused: t("已拒绝"), expired: t("已过期"), ended: t("已结束")};
  let shared = [];
  async function askLoan(o, troupeId) {
    shared = await App.api("GET", "/api/alliances/troupes");
    const others = shared.filter(x => x.palace_id !== palaceId);
    if (!others.length) { App.toast(t("联盟里没有别的文化宫共享的队伍。")); return; }
    edit(t("借用联盟队伍"), [
      {name: "troupe_id", label: t("队伍"), type: "select", value: troupeId, options: others.map(x => [x.troupe_id, x.name + "（" + (x.palace_name || x.palace_id) + "）"])},
      {name: "note", label: t("说明（可选）"), type: "textarea"}],
    async (data) => {
      await App.api("POST", "/api/loans", {order_id: o.order_id, troupe_id: data.troupe_id, note: data.note || null});
      App.toast(t("已发出借用申请，等对方文化宫答复。"));
      await loadAlliance();
    });
  }
  function loanItem(x, incoming) {
    const acts = el("div", {class: "actions"});
    if (incoming && x.status === "pending") {
      acts.append(
        el("button", {type: "button", class: "ok", onclick: (e) => App.act(e.target, async () => {
          await App.api("POST", `/api/loans/${x.loan_id}/approve`); App.toast(t("已同意借用。")); await loadAlliance();
        })}, t("同意")),
        el("button", {type: "button", onclick: () => askReason(t("拒绝借用"), t("理由（对方文化宫会看到）"), async (reason) => {
          await App.api("POST", `/api/loans/${x.loan_id}/refuse`, {reason}); App.toast(t("已拒绝。")); await loadAlliance();
        })}, t("拒绝")));
    }
    return el("li", {dataset: {loan: x.loan_id, status: x.status}},
      el("div", {class: "row"}, el("b", {class: "grow"}, x.troupe_name || x.troupe_id), badge(x.status === "approved" ? "scheduled" : x.status === "pending" ? "pending" : "cancelled", LOAN_STATUS[x.status] || x.status)),
      el("div", {}, incoming ? t("申请方：{palace}", {palace: palaceName(x.palace_id)}) : t("队伍所属：{palace}", {palace: palaceName(x.owner_palace_id)}), " · ", x.program_title || "", x.first_start ? " · " + App.fmt(x.first_start) : ""),
      x.note ? el("div", {class: "muted"}, t("说明："), x.note) : null,
      x.reason ? el("div", {class: "muted"}, t("理由："), x.reason) : null,
      acts);
  }
  let palaceNames = {};
  const palaceName = (id) => palaceNames[id] || id;
  async function loadAlliance() {
    const q = me.role === "admin" ? "?palace_id=" + pid : "";
    const [alliances, palaces, loans, sharedNow] = await Promise.all([
      App.api("GET", "/api/alliances" + q), App.api("GET", "/api/palaces"), App.api("GET", "/api/loans" + q), App.api("GET", "/api/alliances/troupes" + q)]);
    palaceNames = Object.fromEntries(palaces.map(p => [p.palace_id, p.name]));
    shared = sharedNow;
    const alliance = alliances[0];
    App.fill("alliance-name", alliance ? alliance.name : t("文化宫联盟"));
    App.fill("alliance-members", alliance ? t("成员：{names}", {names: alliance.palace_ids.map(palaceName).join("、")}) : t("本文化宫还没有加入文化宫联盟。"));
    const newAlliance = document.getElementById("new-alliance");
    newAlliance.hidden = me.role !== "admin";
    newAlliance.onclick = () => edit(t("建立联盟"), [
      {name: "name", label: t("联盟名称"), value: ""},
      {name: "palace_ids", label: t("成员文化宫编号"), value: "", hint: t("用逗号分隔：") + palaces.map(p => p.palace_id + " " + p.name).join("，")}],
    async (data) => {
      await App.api("POST", "/api/alliances", {name: data.name, palace_ids: list(data.palace_ids)});
      App.toast(t("联盟已建立。"));
      await loadAlliance();
    });
    const waiting = loans.incoming.filter(x => x.status === "pending").length;
    const count = document.getElementById("loan-count");
    count.textContent = waiting;
    count.hidden = !waiting;
    App.fill("loans-in", loans.incoming.length ? loans.incoming.map(x => loanItem(x, true)) : el("li", {class: "empty"}, t("没有借用申请。")));
    App.fill("loans-out", loans.outgoing.length ? loans.outgoing.map(x => loanItem(x, false)) : el("li", {class: "empty"}, t("没有借用申请。")));
    const others = shared.filter(x => x.palace_id !== palaceId);
    App.fill("shared-troupes", others.length ? table([t("队伍"), t("所属文化宫"), t("保留节目"), t("队员人数"), t("特长人数")], others.map(x => el("tr", {dataset: {troupe: x.troupe_id}},
      el("td", {}, x.name), el("td", {}, x.palace_name || x.palace_id), el("td", {}, (x.repertoire_titles || []).join("、")), el("td", {}, x.member_count),
      el("td", {}, Object.entries(x.skills).map(([k, n]) => k + "×" + n).join("，"))))) : el("p", {class: "muted"}, t("联盟里没有别的文化宫共享的队伍。")));
    await loadPeople();
    App.fill("own-troupes", table([t("艺术团"), t("共享"), ""], troupes.map(tr => el("tr", {dataset: {troupe: tr.troupe_id}},
      el("td", {}, tr.name), el("td", {}, tr.shared ? t("已向联盟共享") : t("未共享")),
      el("td", {}, alliance ? el("button", {type: "button", onclick: (e) => App.act(e.target, async () => {
        await App.api("PUT", `/api/troupes/${encodeURIComponent(tr.troupe_id)}/sharing`, {shared: !tr.shared});
        App.toast(tr.shared ? t("已取消共享。") : t("已向联盟共享。"));
        await loadAlliance();
      })}, tr.shared ? t("取消共享") : t("向联盟共享")) : null)))));
  }

  /* ---------------------------------------------------------------- an urgent order placed for a union */
  /* "加急 · 调度员代下（name）" on an order the palace placed for the union */
  function placedBy(o) {
    const by = o.placed_by;
    if (!by || by.role === "enterprise") return null;
    const text = by.role === "admin"
      ? (o.urgent ? t("加急 · 管理员代下（{name}）", {name: by.username}) : t("管理员代下（{name}）", {name: by.username}))
      : (o.urgent ? t("加急 · 调度员代下（{name}）", {name: by.username}) : t("调度员代下（{name}）", {name: by.username}));
    return el("div", {class: o.urgent ? "placed-by urgent" : "placed-by"}, text);
  }
  const urgentDialog = document.getElementById("urgent-dialog");
  const urgentForm = document.getElementById("urgent-form");
  let unions = [], urgentRef = null;
  function prefillUnion() {
    const u = unions.find(x => x.enterprise_id === urgentForm.elements.enterprise_id.value);
    if (!u) return;
    urgentForm.elements.site_address.value = u.address || "";
    urgentForm.elements.district.value = u.district || "";
    if (u.contact_name) urgentForm.elements.contact_name.value = u.contact_name;
    if (u.contact_phone) urgentForm.elements.contact_phone.value = u.contact_phone;
  }
  async function openUrgent() {
    const [list, palaces] = await Promise.all([
      App.api("GET", "/api/enterprises?palace_id=" + pid), App.api("GET", "/api/palaces"), programs.length ? null : loadPeople()]);
    unions = list;
    urgentForm.reset();
    App.clearErrors(urgentForm);
    urgentRef = App.ref();
    App.fill("urgent-enterprise", el("option", {value: ""}, t("请选择企业工会")), unions.map(u => el("option", {value: u.enterprise_id}, u.name)));
    App.fill("urgent-program", el("option", {value: ""}, t("请选择节目")), programs.map(p => el("option", {value: p.program_id}, p.title + " · " + kindLabel(p.kind))));
    const palace = palaces.find(p => p.palace_id === palaceId) || {};
    const districts = new Set([...(palace.districts || []).map(d => d.name), ...unions.map(u => u.district)].filter(Boolean));
    App.fill("urgent-districts", [...districts].map(d => el("option", {value: d})));
    urgentDialog.showModal();
  }
  urgentForm.elements.enterprise_id.addEventListener("change", prefillUnion);
  urgentForm.addEventListener("input", () => { urgentRef = urgentRef || App.ref(); });
  urgentDialog.querySelector("[data-close]").onclick = () => urgentDialog.close();
  document.querySelectorAll(".urgent-open").forEach(b => { b.onclick = () => App.act(b, openUrgent); });
  App.bindForm(urgentForm, async (data) => {
    const start = App.fromLocal(document.getElementById("urgent-start").value);
    const end = App.fromLocal(document.getElementById("urgent-end").value);
    const payload = {...data, urgent: true, client_ref: urgentRef, windows: start || end ? [{start, end}] : []};
    const placed = await App.api("POST", "/api/orders", payload);
    urgentRef = null;
    urgentDialog.close();
    App.toast(t("已为{name}下了加急订单。", {name: placed.enterprise_name || placed.enterprise_id}));
    await refresh();
  });

  /* ---------------------------------------------------------------- lists in and out of spreadsheets */
  const ACTIONS = {create: t("新建"), update: t("更新"), unchanged: t("不变"), refused: t("拒绝")};
  const importKind = document.getElementById("import-kind");
  const importForm = document.getElementById("import-form");
  const importBox = document.getElementById("import-preview");
  const KIND_NAMES = {volunteers: t("志愿者"), troupes: t("队伍"), programs: t("节目"), enterprises: t("企业工会")};
  document.getElementById("import-template").onclick = (e) =>
    App.download(e.currentTarget, `/api/palaces/${pid}/imports/${importKind.value}/template`, importKind.value + "-template.xlsx");
  document.getElementById("export-list").onclick = (e) =>
    App.download(e.currentTarget, `/api/palaces/${pid}/exports/${importKind.value}`, importKind.value + ".xlsx");
  importKind.onchange = () => { importBox.replaceChildren(); importForm.reset(); };

  async function upload(kind, file) {
    const form = new FormData();
    form.append("file", file, file.name);
    const headers = {Authorization: "Bearer " + App.token(), "Accept-Language": window.LANG === "en" ? "en" : "zh-CN"};
    let r;
    try { r = await fetch(`/api/palaces/${pid}/imports/${kind}/preview`, {method: "POST", headers, body: form}); }
    catch (e) { throw {status: 0, message: t("网络连接失败，请检查网络后重试。")}; }
    const body = (r.headers.get("Content-Type") || "").includes("json") ? await r.json() : {message: t("服务暂时出错，请稍后再试。")};
    if (!r.ok) throw {status: r.status, ...body};
    return body;
  }
  function rowDetail(r) {
    const parts = [];
    for (const c of r.changes) parts.push(el("div", {}, t("{column}：{old} → {new}", {column: c.column, old: c.old || t("（空）"), new: c.new || t("（空）")})));
    for (const x of r.reasons) parts.push(el("div", {class: "err"}, x.message));
    for (const n of r.notes) parts.push(el("div", {class: "muted"}, n));
    return parts;
  }
  function showPreview(kind, shown) {
    const c = shown.counts;
    const writes = c.create + c.update;
    const confirmButton = el("button", {type: "button", class: "primary", disabled: !writes}, t("确认导入"));
    confirmButton.onclick = () => App.act(confirmButton, async () => {
      try {
        const done = await App.api("POST", `/api/palaces/${pid}/imports/${kind}/confirm`, {preview_id: shown.preview_id});
        App.toast(t("已导入：新建 {created} 条，更新 {updated} 条。", done));
        if (done.invited) App.toast(t("已导入：新建 {created} 条，更新 {updated} 条。", done) + t("已向 {n} 位新志愿者发出账号邀请。", {n: done.invited}));
        importBox.replaceChildren(el("p", {class: "muted"}, t("已导入：新建 {created} 条，更新 {updated} 条。", done)));
        importForm.reset();
        await loadPeople();
      } catch (err) {
        if (err.status === 409 || err.status === 404) importBox.prepend(el("div", {class: "err"}, err.message));
        throw err;
      }
    });
    App.fill(importBox, [
      el("h3", {}, t("预览：{kind}", {kind: KIND_NAMES[kind]})),
      el("div", {class: "counts"}, ["create", "update", "unchanged", "refused"].map(a => el("div", {class: "count-" + a}, el("b", {}, String(c[a])), ACTIONS[a]))),
      shown.warnings.length ? el("ul", {class: "why"}, shown.warnings.map(w => el("li", {class: "muted"}, w))) : null,
      el("div", {class: "actions"}, confirmButton),
      table([t("行"), t("结果"), t("名称"), t("说明")], shown.rows.map(r => el("tr", {class: "import-" + r.action},
        el("td", {}, String(r.row)), el("td", {}, ACTIONS[r.action]), el("td", {}, r.label || "", r.record_id && r.action !== "refused" ? el("div", {class: "muted"}, r.record_id) : null),
        el("td", {}, rowDetail(r))))),
    ]);
  }
  App.bindForm(importForm, async () => {
    const file = document.getElementById("import-file").files[0];
    if (!file) throw {message: t("请选择要导入的文件。")};
    const kind = importKind.value;
    importBox.replaceChildren(el("p", {class: "muted"}, t("正在读取文件…")));
    try { showPreview(kind, await upload(kind, file)); }
    catch (err) { importBox.replaceChildren(); throw err; }
  });

  /* ---------------------------------------------------------------- refresh */
  async function refresh() {
    shownOrders = "";
    shownInbox = "";
    await Promise.all([loadBoard(), document.querySelector("[data-panel=orders]").hidden ? null : loadOrders()]);
  }
  await loadPeople();
  const showTab = App.tabs(document.querySelector(".tabs"));
  document.addEventListener("tab", (e) => {
    if (e.detail === "orders") loadOrders();
    if (e.detail === "calendar") loadWeek();
    if (e.detail === "registrations") loadRegistrations();
    if (e.detail === "resources") loadResources();
    if (e.detail === "alliance") loadAlliance();
  });
  App.poll(async () => {
    await loadBoard();
    if (!document.querySelector("[data-panel=orders]").hidden) await loadOrders();
    // what is open follows too: a volunteer signed in elsewhere, an offer answered
    await Promise.all([...document.querySelectorAll("#inbox .detail, #orders .detail")].filter(box => !box.closest("[hidden]")).map(box => box.refresh && box.refresh()));
  }, 5000);
  const first = location.hash.slice(1);
  if (first === "orders") loadOrders();
  if (first === "calendar") loadWeek();
  if (first === "registrations") loadRegistrations();
  if (first === "resources") loadResources();
  if (first === "alliance") loadAlliance();
  document.body.dataset.ready = "1";  // the screen is wired up (browser tests wait for this)
})();
