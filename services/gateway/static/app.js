/* Shared helpers for every screen: the catalogue, the JSON API, forms, times, polling. */
"use strict";

function t(text, values) {
  let out = (window.I18N && window.I18N[text]) || text;
  if (values) for (const k of Object.keys(values)) out = out.split("{" + k + "}").join(String(values[k]));
  return out;
}

const App = {
  token() { return localStorage.getItem("token"); },
  me: null,

  async api(method, path, data) {
    const headers = {"Accept-Language": window.LANG === "en" ? "en" : "zh-CN"};
    const token = App.token();
    if (token) headers.Authorization = "Bearer " + token;
    if (data !== undefined) headers["Content-Type"] = "application/json";
    let r;
    try {
      r = await fetch(path, {method, headers, body: data === undefined ? undefined : JSON.stringify(data)});
    } catch (e) {
      throw {status: 0, message: t("网络连接失败，请检查网络后重试。")};
    }
    if (r.status === 401 && !path.startsWith("/api/login")) {
      localStorage.removeItem("token");
      location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
      throw {status: 401, message: t("请先登录。")};
    }
    const type = r.headers.get("Content-Type") || "";
    const body = type.includes("json") ? await r.json() : await r.text();
    if (!r.ok) throw {status: r.status, ...(typeof body === "object" ? body : {message: t("服务暂时出错，请稍后再试。")})};
    return body;
  },

  async requireLogin(roles) {
    if (!App.token()) {
      location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
      return new Promise(() => {});
    }
    App.me = await App.api("GET", "/api/me");
    if (roles && !roles.includes(App.me.role)) {
      location.href = "/login";
      return new Promise(() => {});
    }
    const who = document.getElementById("who");
    document.getElementById("who-name").textContent = App.me.display_name || App.me.username;
    who.hidden = false;
    document.getElementById("logout").onclick = async () => {
      try { await App.api("POST", "/api/logout"); } catch (e) { /* signed out either way */ }
      localStorage.removeItem("token");
      location.href = "/login";
    };
    App.accountDialog();
    if (App.me.notice_pending) App.askNotice();
    return App.me;
  },

  /* a privacy notice newer than what the person agreed to: asked above the screen (not in the way) */
  async askNotice() {
    const notice = await App.api("GET", "/api/privacy");
    const main = document.querySelector("main");
    const box = App.el("section", {class: "notice-banner", role: "region", "aria-label": t("隐私政策")},
      App.el("p", {}, App.me.notice_accepted
        ? t("隐私政策有新版本（第 {n} 版），请阅读后同意。", {n: notice.version})
        : t("请阅读并同意本平台的隐私政策（第 {n} 版）。", {n: notice.version})),
      App.el("details", {}, App.el("summary", {}, t("阅读隐私政策")), App.el("div", {class: "pre-wrap"}, notice.text)),
      App.el("div", {class: "actions"}, App.el("button", {type: "button", class: "primary", id: "notice-agree", onclick: (e) => App.act(e.currentTarget, async () => {
        await App.api("POST", "/api/privacy/consent", {version: notice.version});
        box.remove();
        App.toast(t("已同意隐私政策。"));
      })}, t("同意"))));
    main.prepend(box);
  },

  /* the name in the header opens the account's dialog: change the password, sign out everywhere */
  accountDialog() {
    const dialog = document.getElementById("account-dialog");
    if (!dialog) return;
    const form = document.getElementById("password-form");
    const signedOut = (message) => {
      localStorage.removeItem("token");
      dialog.close();
      App.toast(message);
      setTimeout(() => { location.href = "/login"; }, 1500);
    };
    const erasure = async () => {
      const mine = await App.api("GET", "/api/me/erasure");
      const pending = mine.erasure && mine.erasure.status === "pending";
      document.getElementById("erasure-ask").hidden = pending;
      document.getElementById("erasure-cancel").hidden = !pending;
      if (pending) App.fill("erasure-state", t("您已申请注销账号，将于 {time} 执行；在此之前可以撤销。", {time: App.fmt(mine.erasure.due_at)}));
      return mine;
    };
    document.getElementById("who-name").onclick = () => {
      form.reset(); App.clearErrors(form); dialog.showModal();
      erasure().catch(() => {});
    };
    document.getElementById("erasure-ask").onclick = (e) => App.act(e.currentTarget, async () => {
      const mine = await App.api("GET", "/api/me/erasure");
      const days = Math.round(mine.grace_days * 10) / 10;
      if (!confirm(t("确定要注销账号吗？{days} 天后执行，执行后无法恢复；在此之前可以撤销。", {days}))) return;
      await App.api("POST", "/api/me/erasure");
      await erasure();
      App.toast(t("已申请注销账号。"));
    });
    document.getElementById("erasure-cancel").onclick = (e) => App.act(e.currentTarget, async () => {
      await App.api("POST", "/api/me/erasure/cancel");
      location.reload();
    });
    document.getElementById("account-close").onclick = () => dialog.close();
    App.bindForm(form, async (data) => {
      if ((data.new_password || "") !== (data.again || "")) {
        throw {message: t("两次输入的新密码不一样。"), fields: {again: [t("两次输入的新密码不一样。")]}};
      }
      await App.api("POST", "/api/password", {old_password: data.old_password || "", new_password: data.new_password || ""});
      signedOut(t("密码已修改，请用新密码重新登录。"));
    });
    document.getElementById("my-data").onclick = (e) => App.download(e.currentTarget, "/api/me/data", "my-data.zip");
    document.getElementById("logout-all").onclick = (e) => App.act(e.currentTarget, async () => {
      const done = await App.api("POST", "/api/logout-all");
      signedOut(t("已在所有设备上退出（{n} 处登录）。", {n: done.sessions_ended}));
    });
  },

  /* element builder: el("li", {class: "x", onclick: f}, "text", child) — text is never parsed as HTML */
  el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (k === "dataset") Object.assign(node.dataset, v);
      else if (v === true) node.setAttribute(k, "");
      else node.setAttribute(k, v);
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  },

  /* fill, but only when what it would show differs from what is shown: a refresh leaves the reader's
     place, focus and selection alone. QR codes drawn after filling are left out of the comparison. */
  refill(target, ...children) {
    const node = typeof target === "string" ? document.getElementById(target) : target;
    const next = document.createElement(node.tagName);
    next.append(...children.flat(Infinity).filter(c => c !== null && c !== undefined && c !== false));
    const looks = (n) => { const c = n.cloneNode(true); c.querySelectorAll(".qr").forEach(q => q.replaceChildren()); return c.innerHTML; };
    if (node.childNodes.length && looks(node) === looks(next)) return node;
    const focused = node.contains(document.activeElement) && document.activeElement !== node ? document.activeElement : null;
    const path = [];
    for (let e = focused; e && e !== node; e = e.parentElement) path.unshift([...e.parentElement.children].indexOf(e));
    node.replaceChildren(...next.childNodes);
    if (focused) {  // the same control again: where it was, or else the one with the same words
      const same = (e) => e && e.tagName === focused.tagName && e.textContent === focused.textContent;
      let again = node;
      for (const i of path) again = again && again.children[i];
      if (!same(again)) again = [...node.querySelectorAll(focused.tagName)].find(same);
      if (again) again.focus({preventScroll: true});
    }
    return node;
  },

  fill(target, ...children) {
    const node = typeof target === "string" ? document.getElementById(target) : target;
    node.replaceChildren(...children.flat(Infinity).filter(c => c !== null && c !== undefined && c !== false));
    return node;
  },

  toast(message, bad) {
    const box = document.getElementById("toast");
    box.textContent = message;
    box.className = bad ? "show bad" : "show";
    clearTimeout(App._toast);
    App._toast = setTimeout(() => { box.className = ""; }, 4000);
  },

  /* form fields named "a.b" become {a: {b: …}} */
  formData(form) {
    const out = {};
    for (const field of form.elements) {
      if (!field.name || field.disabled || field.closest("[hidden]")) continue;
      if ((field.type === "radio" || field.type === "checkbox") && !field.checked) continue;
      let value = field.value.trim();
      if (value === "") continue;
      if (field.type === "number") value = Number(value);
      const path = field.name.split(".");
      let node = out;
      for (const key of path.slice(0, -1)) node = node[key] = node[key] || {};
      node[path[path.length - 1]] = value;
    }
    return out;
  },

  clearErrors(form) {
    form.querySelectorAll(".err").forEach(e => { e.textContent = ""; });
    form.querySelectorAll("[aria-invalid]").forEach(e => e.removeAttribute("aria-invalid"));
  },

  /* the API's per-field messages next to the fields, the general one at the form's foot */
  showErrors(form, err) {
    App.clearErrors(form);
    const general = form.querySelector(".form-error");
    let placed = false;
    const walk = (fields, prefix) => {
      for (const [key, value] of Object.entries(fields || {})) {
        const name = prefix ? prefix + "." + key : key;
        if (Array.isArray(value) && value.every(v => typeof v === "string")) {
          const slot = form.querySelector(`[data-err="${CSS.escape(name)}"]`) || form.querySelector(`[data-err="${CSS.escape(name.split(".")[0])}"]`);
          if (slot) { slot.textContent = value.join(" "); placed = true; }
          else if (general) general.textContent += " " + value.join(" ");
          const input = form.querySelector(`[name="${CSS.escape(name)}"]`);
          if (input) input.setAttribute("aria-invalid", "true");
        } else if (value && typeof value === "object") {
          walk(value, name);
        }
      }
    };
    walk(err.fields, "");
    if (general) general.textContent = (err.message || t("服务暂时出错，请稍后再试。")) + (general.textContent || "");
    else if (!placed) App.toast(err.message, true);
  },

  /* run a submit handler with the button disabled, errors shown on the form */
  bindForm(form, handler) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = form.querySelector("button[type=submit]");
      if (button) button.disabled = true;
      App.clearErrors(form);
      try { await handler(App.formData(form), form); }
      catch (err) { App.showErrors(form, err); }
      finally { if (button) button.disabled = false; }
    });
  },

  /* a button that calls the API; errors go to the toast */
  async act(button, fn) {
    button.disabled = true;
    try { return await fn(); }
    catch (err) { App.toast(err.message || t("服务暂时出错，请稍后再试。"), true); }
    finally { button.disabled = false; }
  },

  /* a file behind the sign-in, with a progress bar (where the page has one) while it arrives */
  async download(button, path, fallbackName) {
    const bar = document.getElementById("progress") || document.createElement("progress");
    const text = document.getElementById("progress-text") || document.createElement("span");
    button.disabled = true;
    bar.hidden = false;
    bar.removeAttribute("value");
    text.textContent = t("正在生成…");
    try {
      const r = await fetch(path, {headers: {Authorization: "Bearer " + App.token(), "Accept-Language": window.LANG === "en" ? "en" : "zh-CN"}});
      if (!r.ok) { const err = await r.json(); throw err; }
      const total = Number(r.headers.get("Content-Length")) || 0;
      const reader = r.body.getReader();
      const parts = [];
      let got = 0;
      for (;;) {
        const {done, value} = await reader.read();
        if (done) break;
        parts.push(value);
        got += value.length;
        if (total) { bar.value = Math.round(got * 100 / total); text.textContent = t("已下载 {p}%", {p: bar.value}); }
      }
      const name = decodeURIComponent(((r.headers.get("Content-Disposition") || "").split("UTF-8''")[1] || "")) || fallbackName;
      const url = URL.createObjectURL(new Blob(parts, {type: r.headers.get("Content-Type") || "application/octet-stream"}));
      const a = App.el("a", {href: url, download: name});
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      text.textContent = t("已完成：{name}", {name});
    } catch (err) {
      App.toast(err.message || t("服务暂时出错，请稍后再试。"), true);
      text.textContent = "";
    } finally {
      bar.hidden = true;
      button.disabled = false;
    }
  },

  ref() {
    return (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + String(Math.random()).slice(2)).replace(/[^A-Za-z0-9_-]/g, "");
  },

  /* times: stored in UTC, shown in China time */
  fmt(iso, opts) {
    if (!iso) return "";
    if (window.LANG === "en") {  // "Tue 8 Dec 14:00": the month by name, never a number read two ways
      return new Intl.DateTimeFormat("en-GB", {timeZone: "Asia/Shanghai", month: "short", day: "numeric", weekday: "short", hour: "2-digit", minute: "2-digit", hour12: false, ...(opts || {})})
        .format(new Date(iso)).replace(/,\s*/g, " ");
    }
    return new Intl.DateTimeFormat("zh-CN", {timeZone: "Asia/Shanghai", month: "long", day: "numeric", weekday: "short", hour: "2-digit", minute: "2-digit", hour12: false, ...(opts || {})}).format(new Date(iso));
  },
  fmtTime(iso) { return App.fmt(iso, {month: undefined, day: undefined, weekday: undefined}); },
  span(start, end) { return start ? App.fmt(start) + "–" + App.fmtTime(end) : ""; },

  /* "2026-12-05T14:00" typed in China time → an ISO time with its offset */
  fromLocal(value) { return value ? value + ":00+08:00" : null; },
  toLocal(iso) {
    const d = new Date(new Date(iso).getTime() + 8 * 3600 * 1000);
    return d.toISOString().slice(0, 16);
  },

  /* refresh every few seconds while the page is visible: the board and the offers update by themselves */
  poll(fn, ms) {
    let timer = null;
    const tick = async () => {
      clearTimeout(timer);
      if (!document.hidden) { try { await fn(); } catch (e) { /* shown by fn; try again later */ } }
      timer = setTimeout(tick, ms);
    };
    document.addEventListener("visibilitychange", () => { if (!document.hidden) tick(); });
    tick();
    return {now: tick};
  },

  tabs(root) {
    const buttons = root.querySelectorAll("[data-tab]");
    const show = (name) => {
      buttons.forEach(b => b.setAttribute("aria-selected", b.dataset.tab === name ? "true" : "false"));
      document.querySelectorAll("[data-panel]").forEach(p => { p.hidden = p.dataset.panel !== name; });
      if (location.hash.slice(1) !== name) history.replaceState(null, "", "#" + name);
      document.dispatchEvent(new CustomEvent("tab", {detail: name}));
    };
    buttons.forEach(b => b.addEventListener("click", () => show(b.dataset.tab)));
    const first = location.hash.slice(1);
    show([...buttons].some(b => b.dataset.tab === first) ? first : buttons[0].dataset.tab);
    return show;
  },
};

/* switching language keeps the tab one is on: the header's links carry the #tab to the page they return to */
document.addEventListener("click", (event) => {
  const a = event.target.closest && event.target.closest(".langs a");
  if (!a || !location.hash) return;
  const url = new URL(a.href, location.href);
  url.searchParams.set("next", (url.searchParams.get("next") || "/").split("#")[0] + location.hash);
  a.href = url.pathname + url.search;
});

const ORDER_STATUS = {
  submitted: t("待受理"), accepted: t("已受理"), rejected: t("已拒绝"), scheduled: t("已排期"),
  unfulfillable: t("无法安排"), delivered: t("已服务"), closed: t("已完结"), cancelled: t("已取消"),
};
const OFFER_STATUS = {
  pending: t("待答复"), accepted: t("已接受"), declined: t("已婉拒"), expired: t("已过期"),
  withdrawn: t("已撤回"), handed_over: t("已转交"), no_show: t("缺席"),
};
const KINDS = {performance: t("文艺演出"), training: t("培训课程"), lecture: t("讲座"), screening: t("电影放映"), talk: t("宣讲"), consultation: t("咨询服务")};

function statusLabel(status) { return ORDER_STATUS[status] || status; }
function offerLabel(status) { return OFFER_STATUS[status] || status; }
function kindLabel(kind) { return KINDS[kind] || kind; }
function badge(status, label) { return App.el("span", {class: "badge s-" + status}, label); }
