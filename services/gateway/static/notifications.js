/* The bell in the header of every signed-in page: the unread count, the panel of notifications
   (mark read, open what it is about) and the settings dialog (email, SMS/WeChat, quiet kinds). */
"use strict";

(function () {
  const bell = document.getElementById("bell");
  if (!bell) return;
  const panel = document.getElementById("notif-panel");
  const list = document.getElementById("notif-list");
  const count = document.getElementById("bell-count");
  const more = document.getElementById("notif-more");
  const dialog = document.getElementById("notif-settings");
  const form = document.getElementById("notif-form");
  const el = App.el;
  let items = [];
  let next = null;

  function showCount(unread) {
    count.hidden = !unread;
    count.textContent = unread > 99 ? "99+" : String(unread);
    bell.setAttribute("aria-label", unread ? t("消息：{n} 条未读", {n: unread}) : t("消息"));
  }

  function open(link) {
    if (!link) return;
    const url = new URL(link, location.href);
    if (url.pathname === location.pathname) {
      const tab = document.querySelector(`[data-tab="${CSS.escape(url.hash.slice(1))}"]`);
      if (tab) tab.click();
      panel.hidden = true;
      bell.setAttribute("aria-expanded", "false");
    } else {
      location.href = url.pathname + url.hash;
    }
  }

  async function markRead(n) {
    if (n.read) return;
    const done = await App.api("POST", `/api/notifications/${encodeURIComponent(n.notification_id)}/read`);
    Object.assign(n, done);
  }

  function row(n) {
    const read = el("button", {type: "button", class: "link", onclick: async (e) => {
      e.stopPropagation();
      await App.act(e.target, () => markRead(n));
      await refresh();
    }}, t("标为已读"));
    const go = n.link ? el("button", {type: "button", class: "link", onclick: async (e) => {
      e.stopPropagation();
      try { await markRead(n); } catch (err) { /* opening matters more than the mark */ }
      open(n.link);
      refresh();
    }}, t("查看")) : null;
    return el("li", {class: n.read ? "" : "unread"},
      el("div", {class: "row"}, el("b", {class: "grow"}, n.title), el("span", {class: "badge"}, n.kind_label)),
      el("p", {}, n.body),
      el("div", {class: "row muted"}, el("span", {class: "grow"}, App.fmt(n.created_at)), go, n.read ? null : read));
  }

  function render() {
    if (!items.length) App.fill(list, el("li", {class: "empty"}, t("还没有消息。")));
    else App.fill(list, items.map(row));
    more.hidden = !next;
  }

  async function refresh() {
    const page = await App.api("GET", "/api/notifications?limit=20");
    showCount(page.unread);
    if (!panel.hidden) {
      items = page.items;
      next = page.next_before;
      render();
    }
  }

  bell.addEventListener("click", async () => {
    panel.hidden = !panel.hidden;
    bell.setAttribute("aria-expanded", String(!panel.hidden));
    if (!panel.hidden) {
      try { await refresh(); } catch (err) { App.toast(err.message, true); }
    }
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !panel.hidden) { panel.hidden = true; bell.setAttribute("aria-expanded", "false"); bell.focus(); }
  });
  document.addEventListener("click", (e) => {
    if (!panel.hidden && !panel.contains(e.target) && !bell.contains(e.target) && !dialog.contains(e.target)) {
      panel.hidden = true;
      bell.setAttribute("aria-expanded", "false");
    }
  });
  more.addEventListener("click", () => App.act(more, async () => {
    const page = await App.api("GET", "/api/notifications?limit=20&before=" + encodeURIComponent(next));
    items = items.concat(page.items);
    next = page.next_before;
    render();
  }));
  document.getElementById("notif-read-all").addEventListener("click", (e) => App.act(e.target, async () => {
    await App.api("POST", "/api/notifications/read-all");
    await refresh();
  }));

  /* settings: a row per kind, a box per channel; ticked = I want it there */
  function fillSettings(s) {
    form.elements.email.value = s.email || "";
    form.elements.webhook.checked = !!s.webhook;
    form.elements.phone.value = s.phone || "";
    const webhook = s.channels.find(c => c.channel === "webhook");
    form.elements.webhook.disabled = !(webhook && webhook.available);
    const muted = {};
    for (const m of s.mutes) muted[m.kind] = new Set(m.channels);
    App.fill("notif-kinds-head", el("tr", {}, el("th", {}, t("类别")),
      s.channels.map(c => el("th", {scope: "col"}, c.label + (c.available ? "" : t("（未开通）"))))));
    App.fill("notif-kinds", s.kinds.map(k => el("tr", {},
      el("th", {scope: "row"}, k.label),
      s.channels.map(c => el("td", {}, el("input", {
        type: "checkbox", "aria-label": k.label + " · " + c.label,
        dataset: {kind: k.kind, channel: c.channel},
        checked: !(muted[k.kind] && muted[k.kind].has(c.channel)),
        disabled: !c.available,
      }))))));
  }

  document.getElementById("notif-settings-open").addEventListener("click", (e) => App.act(e.target, async () => {
    App.clearErrors(form);
    fillSettings(await App.api("GET", "/api/notifications/preferences"));
    panel.hidden = true;
    bell.setAttribute("aria-expanded", "false");
    dialog.showModal();
  }));
  document.getElementById("notif-cancel").addEventListener("click", () => dialog.close());
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    App.clearErrors(form);
    const mutes = {};
    form.querySelectorAll("input[data-kind]").forEach(box => {
      if (!box.checked) (mutes[box.dataset.kind] = mutes[box.dataset.kind] || []).push(box.dataset.channel);
    });
    const data = {
      email: form.elements.email.value.trim() || null,
      webhook: form.elements.webhook.checked,
      phone: form.elements.phone.value.trim() || null,
      mutes: Object.entries(mutes).map(([kind, channels]) => ({kind, channels})),
    };
    try {
      fillSettings(await App.api("PUT", "/api/notifications/preferences", data));
      dialog.close();
      App.toast(t("消息设置已保存。"));
    } catch (err) {
      App.showErrors(form, err);
    } finally {
      button.disabled = false;
    }
  });

  (async () => {
    while (!App.me) await new Promise(r => setTimeout(r, 200));
    App.poll(async () => {
      try { await refresh(); } catch (err) { /* the next tick tries again */ }
    }, 30000);
  })();
})();
