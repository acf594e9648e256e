"""The audience's feedback form: one small page, no login, no external resources, phone-first."""

from __future__ import annotations

import html
import io
import json

import segno

_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>服务评议</title>
<style>
body{font-family:system-ui,"Noto Sans CJK SC","PingFang SC","Microsoft YaHei",sans-serif;margin:0;background:#f6f3ee;color:#222}
main{max-width:28rem;margin:0 auto;padding:1rem}
h1{font-size:1.3rem;color:#b3261e;margin:.5rem 0}
fieldset{border:0;padding:0;margin:1rem 0}
legend{font-weight:600;margin-bottom:.4rem}
.stars{display:flex;gap:.3rem}
.stars label{flex:1;text-align:center;padding:.6rem 0;border:1px solid #ccc;border-radius:.5rem;background:#fff;font-size:1.1rem}
.stars input{position:absolute;opacity:0}
.stars input:checked+span{font-weight:700}
.stars label:has(input:checked){background:#b3261e;border-color:#b3261e;color:#fff}
textarea,input[type=text]{width:100%;box-sizing:border-box;padding:.6rem;border:1px solid #ccc;border-radius:.5rem;font-size:1rem}
button{width:100%;padding:.9rem;border:0;border-radius:.6rem;background:#b3261e;color:#fff;font-size:1.1rem;margin-top:1rem}
.err{color:#b3261e;font-size:.9rem}
.done{background:#fff;padding:2rem 1rem;border-radius:.8rem;text-align:center;font-size:1.2rem}
</style></head><body><main>
__BODY__
</main></body></html>"""

_ASPECTS = [
    ("overall", "总体满意度", True),
    ("content", "节目内容", False),
    ("performers", "演员/老师表现", False),
    ("organisation", "组织安排", False),
]


def _stars(name: str, label: str, required: bool) -> str:
    options = "".join(
        f'<label><input type="radio" name="{name}" value="{n}"{" required" if required else ""}><span>{n}</span></label>'
        for n in range(1, 6)
    )
    mark = "（必填）" if required else "（可选）"
    return f'<fieldset><legend>{label}{mark}</legend><div class="stars">{options}</div><div class="err" data-for="{name}"></div></fieldset>'


def survey_page(survey: dict | None, error: str | None) -> str:
    if survey is None:
        return _PAGE.replace("__BODY__", f'<div class="done">{html.escape(error or "找不到这份评议。")}</div>')
    if survey["status"] != "open":
        return _PAGE.replace("__BODY__", '<div class="done">这份评议已经结束，谢谢您的关注。</div>')
    title = html.escape(survey.get("program_title") or "本次服务")
    form = "".join(_stars(*a) for a in _ASPECTS)
    body = f"""<h1>{title} · 服务评议</h1>
<p>匿名填写，约一分钟。1 分最低，5 分最高。</p>
<form id="f">{form}
<fieldset><legend>意见和建议（可选）</legend><textarea name="comment" maxlength="500" rows="3"></textarea><div class="err" data-for="comment"></div></fieldset>
<fieldset><legend>下次还想看什么？（可选，用逗号分隔）</legend><input type="text" name="wanted" maxlength="200" placeholder="例如：八段锦，书法，电影"><div class="err" data-for="wanted_programs"></div></fieldset>
<div class="err" id="general"></div>
<button type="submit">提交评议</button></form>
<script>
const api = {json.dumps("/api/surveys/" + survey.get("token", ""))};
const ref = (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random()).replace(/[^A-Za-z0-9_-]/g, "");
document.getElementById("f").addEventListener("submit", async (e) => {{
  e.preventDefault();
  const f = e.target, data = {{client_ref: ref}};
  for (const k of ["overall", "content", "performers", "organisation"]) {{
    const v = f.querySelector(`input[name=${{k}}]:checked`); if (v) data[k] = Number(v.value);
  }}
  if (f.comment.value.trim()) data.comment = f.comment.value.trim();
  const wanted = f.wanted.value.split(/[,，、\\s]+/).map(s => s.trim()).filter(Boolean).slice(0, 5);
  if (wanted.length) data.wanted_programs = wanted;
  document.querySelectorAll(".err").forEach(x => x.textContent = "");
  try {{
    const r = await fetch(api + "/responses", {{method: "POST", headers: {{"Content-Type": "application/json"}}, body: JSON.stringify(data)}});
    const j = await r.json();
    if (r.ok) {{ document.querySelector("main").innerHTML = '<div class="done">谢谢您的评议！</div>'; return; }}
    document.getElementById("general").textContent = j.message || "提交失败，请重试。";
    for (const [k, msgs] of Object.entries(j.fields || {{}})) {{
      const el = document.querySelector(`.err[data-for="${{k.split(".")[0]}}"]`); if (el) el.textContent = msgs.join(" ");
    }}
  }} catch (err) {{ document.getElementById("general").textContent = "网络不稳定，请稍后再提交。"; }}
}});
</script>"""
    return _PAGE.replace("__BODY__", body)


def qr_svg(link: str) -> bytes:
    """A QR code of the survey link, medium error correction so a creased printout still scans."""
    out = io.BytesIO()
    segno.make(link, error="m").save(out, kind="svg", scale=10, border=2, title="扫码评议", xmldecl=True)
    return out.getvalue()
