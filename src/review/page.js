"use strict";
// The review page: one item at a time, keyboard first. Every decision goes to the server, which validates it and
// appends it to review.jsonl before answering; the page only shows what the server has saved.
(function () {
  const token = new URLSearchParams(location.search).get("token") || "";
  const q = (p) => p + (p.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token);
  const $ = (id) => document.getElementById(id);
  let items = [];
  let idx = 0;
  let selected = undefined; // undefined = nothing chosen yet; null = blank
  let busy = false;

  const REASONS = {
    ambiguous: "không rõ: nhiều ô có dấu",
    faint_mark: "dấu mờ",
    partial_fill: "ô bị tô một phần / gạch bỏ",
    low_confidence: "độ tin cậy thấp",
    registration_unverified: "không căn chỉnh được trang",
    markers_not_found: "không tìm thấy dấu định vị ở góc",
    template_conflict: "mẫu phiếu không khớp mã QR",
    layout_unverified: "không xác nhận được bố cục bảng",
    few_marks_on_page: "trang có rất ít dấu",
    line_through_box: "một nét dài chạy qua ô (dấu mộc, đường kẻ?)",
    red_ink: "mực đỏ trong ô (dấu mộc?)",
    box_hidden: "không thấy ô (bị che: giấy nhớ, băng xóa, góc gấp?)",
    ink_beside_box: "ô trống nhưng có nét bút cạnh ô (khoanh tròn, đánh dấu bên ngoài ô?)",
    duplicate_dossier: "trùng mã hồ sơ với phiếu khác",
    missing: "không đọc được mã (ô trống?)",
    page_kept: "trang được giữ: nhập tay",
    not_in_returned: "không có trong danh sách hồ sơ đã trả",
    ambiguous_nearest: "nhiều hồ sơ gần giống",
    qr_mismatch: "khác mã trong QR",
    qr_has_code_field_empty: "QR có mã nhưng ô mã trống",
    bad_date: "ngày trong mã không hợp lệ",
    unknown_agency: "mã cơ quan lạ",
    pattern: "sai định dạng",
    off_grammar: "sai định dạng",
    grammar_disagreement: "đọc không nhất quán",
    low_char_confidence: "ký tự khó đọc",
    broken_strokes: "nét chữ bị đứt khi quét đen trắng",
    markers_lost: "trang mất dấu định vị: mã cần người đọc",
    unstable_reading: "đọc lại ở tỷ lệ khác cho kết quả khác: mã cần người đọc",
    low_resolution: "ảnh quét độ phân giải thấp (fax): mã cần người đọc",
    faint_field: "ô mã có vết mờ",
  };
  const reasonText = (r) =>
    r.split(", ").map((x) => REASONS[x] ? REASONS[x] + " (" + x + ")" : x).join("; ");

  function remaining() {
    return items.filter((i) => !i.decision).length;
  }

  async function api(path, body) {
    const res = await fetch(q(path), body === undefined ? {} : {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    const data = await res.json();
    if (!res.ok) throw new Error(data.error || res.statusText);
    return data;
  }

  function sameId(a, b) {
    return a.source.path === b.source.path && a.source.page === b.source.page &&
      a.kind === b.kind && a.key === b.key;
  }

  function current() {
    return items[idx];
  }

  function currentValue(it) {
    if (it.decision) return it.decision.value;
    return it.proposal;
  }

  function render() {
    $("counter").textContent = "còn lại " + remaining();
    $("counter").dataset.remaining = String(remaining());
    const it = current();
    const done = remaining() === 0 && (!it || it.decision);
    $("done").hidden = !done;
    if (!it) {
      $("main").hidden = true;
      $("position").textContent = "";
      return;
    }
    $("main").hidden = false;
    $("position").textContent = "mục " + (idx + 1) + "/" + items.length;
    $("what").innerHTML = "";
    const title = document.createElement("b");
    title.textContent = it.title;
    const src = document.createElement("span");
    src.className = "src";
    src.textContent = it.id.source.path + " — trang " + it.id.source.page;
    $("what").append(title, src);
    if (it.crop) {
      $("crop").src = q("api/file?path=" + encodeURIComponent(it.crop));
      $("crop-wrap").hidden = false;
    } else {
      $("crop").removeAttribute("src");
      $("crop-wrap").hidden = true;
    }
    const prop = it.proposal === null ? "(trống)" : it.proposal;
    $("machine").innerHTML = "";
    const m = document.createElement("div");
    m.textContent = it.id.kind === "page" ? "Máy không đọc được trang này." :
      "Máy đề xuất: " + prop + " — độ tin cậy " + Math.round(it.confidence * 100) + "%";
    const r = document.createElement("div");
    r.className = "reason";
    r.textContent = "Lý do: " + reasonText(it.reason);
    $("machine").append(m, r);

    $("choices").innerHTML = "";
    for (const o of it.options) {
      const b = document.createElement("button");
      b.type = "button";
      b.dataset.value = o.value === null ? "" : o.value;
      const k = document.createElement("span");
      k.className = "key";
      // A choice without a key (a blank code: inside the code box `0` is a digit) shows no empty badge.
      if (o.key) {
        k.textContent = o.key;
        b.append(k, " " + o.label);
      } else {
        b.append(o.label);
      }
      if (selected !== undefined && o.value === selected) b.classList.add("selected");
      if (it.id.kind === "answer" && o.value === it.proposal && it.proposal !== null) b.classList.add("proposal");
      b.onclick = () => {
        // A code item saves what the code box holds: a blank choice empties it first.
        if (it.code && o.value === null) { $("code").value = ""; checkCode(); }
        selected = o.value;
        decide();
      };
      $("choices").append(b);
    }
    const code = it.code;
    $("code-wrap").hidden = !code;
    if (code) {
      const input = $("code");
      if (input.dataset.for !== keyOf(it)) {
        input.dataset.for = keyOf(it);
        input.value = currentValue(it) || "";
        input.placeholder = code.example;
      }
      checkCode();
      $("candidates").innerHTML = "";
      const cands = (it.suggestion ? [it.suggestion] : []).concat(it.candidates.filter((c) => c !== it.suggestion));
      if (cands.length) {
        $("candidates").append("Gần nhất trong danh sách đã trả: ");
        for (const c of cands) {
          const b = document.createElement("button");
          b.type = "button";
          b.textContent = c;
          b.onclick = () => { input.value = c; checkCode(); input.focus(); };
          $("candidates").append(b);
        }
      }
      setTimeout(() => input.focus(), 0);
    } else if (document.activeElement) {
      document.activeElement.blur();
    }
    $("decided").textContent = it.decision
      ? "Đã quyết định: " + (it.decision.value === null ? "(trống)" : it.decision.value) + " — " + it.decision.operator + ", " + localTime(it.decision.at)
      : "";
    const pageImg = $("page");
    $("outline").hidden = true;
    if (it.page_available) {
      pageImg.hidden = false;
      pageImg.onload = () => placeOutline(it);
      const src = q("api/page?path=" + encodeURIComponent(it.id.source.path) + "&page=" + it.id.source.page);
      if (pageImg.dataset.src !== src) {
        pageImg.dataset.src = src;
        pageImg.src = src;
      } else {
        placeOutline(it);
      }
      $("page-note").textContent = it.page_upright ? "Cả trang (đã căn thẳng); khung đỏ là mục đang xem." : "Ảnh gốc của trang.";
    } else {
      pageImg.hidden = true;
      pageImg.removeAttribute("src");
      pageImg.dataset.src = "";
      $("page-note").textContent = "Không mở được tệp gốc của trang; chỉ có ảnh cắt.";
    }
  }

  function placeOutline(it) {
    const o = $("outline");
    if (!it.page_box || !it.page_mm || !it.page_upright) { o.hidden = true; return; }
    const [x0, y0, x1, y1] = it.page_box;
    const [w, h] = it.page_mm;
    o.style.left = (100 * x0 / w) + "%";
    o.style.top = (100 * y0 / h) + "%";
    o.style.width = (100 * (x1 - x0) / w) + "%";
    o.style.height = (100 * (y1 - y0) / h) + "%";
    o.hidden = false;
  }

  // Decision times are stored in UTC (RFC 3339) and shown in the operator's local time, as a Vietnamese clerk
  // writes them (HH:MM:SS DD/MM/YYYY); spelled out rather than toLocaleString so every browser shows the same.
  function localTime(at) {
    const d = new Date(at);
    if (isNaN(d.getTime())) return at;
    const p = (n) => String(n).padStart(2, "0");
    return p(d.getHours()) + ":" + p(d.getMinutes()) + ":" + p(d.getSeconds()) + " " +
      p(d.getDate()) + "/" + p(d.getMonth() + 1) + "/" + d.getFullYear();
  }

  function keyOf(it) {
    return it.id.source.path + "#" + it.id.source.page + "#" + it.id.kind + "#" + it.id.key;
  }

  function checkCode() {
    const it = current();
    if (!it || !it.code) return true;
    const input = $("code");
    // Codes are upper case without spaces; rewrite only when that changes something, and keep the caret where
    // the operator is typing (assigning the value would move it to the end).
    const norm = (t) => t.toUpperCase().replace(/\s+/g, "");
    const v = norm(input.value);
    if (v !== input.value) {
      const caret = norm(input.value.slice(0, input.selectionStart || 0)).length;
      input.value = v;
      input.setSelectionRange(caret, caret);
    }
    const ok = v === "" || new RegExp(it.code.pattern).test(v);
    input.classList.toggle("valid", ok && v !== "");
    input.classList.toggle("invalid", !ok);
    const s = $("code-ok");
    s.className = "code-ok " + (ok ? "valid" : "invalid");
    s.textContent = v === "" ? "Để trống: Enter ghi nhận ô trống." :
      ok ? "✓ đúng định dạng" : "✗ chưa đúng định dạng, ví dụ " + it.code.example;
    return ok;
  }

  function move(d) {
    if (!items.length) return;
    idx = Math.max(0, Math.min(items.length - 1, idx + d));
    selected = undefined;
    $("error").textContent = "";
    render();
  }

  function advance() {
    selected = undefined;
    for (let i = idx + 1; i < items.length; i++) if (!items[i].decision) { idx = i; return; }
    for (let i = 0; i < items.length; i++) if (!items[i].decision) { idx = i; return; }
    idx = Math.min(idx + 1, items.length - 1);
  }

  async function decide() {
    const it = current();
    if (!it || busy) return;
    let value;
    if (it.code) {
      if (!checkCode()) { $("error").textContent = "Mã chưa đúng định dạng."; return; }
      value = $("code").value === "" ? null : $("code").value;
    } else if (selected !== undefined) {
      value = selected;
    } else if (it.decision) {
      value = it.decision.value;
    } else if (it.proposal !== null && it.id.kind === "answer") {
      value = it.proposal;
    } else {
      $("error").textContent = it.id.kind === "page" ? "Chọn 1 (giữ) hoặc 0 (loại bỏ)." : "Chọn 1, 2, 3 hoặc 0 (để trống).";
      return;
    }
    busy = true;
    try {
      const data = await api("api/decide", { item: it.id, value: value });
      $("error").textContent = "";
      items = data.items;
      idx = Math.max(0, items.findIndex((x) => sameId(x.id, it.id)));
      advance();
      render();
    } catch (e) {
      $("error").textContent = "Không lưu được: " + e.message;
    } finally {
      busy = false;
    }
  }

  document.addEventListener("keydown", (ev) => {
    const it = current();
    if (!it || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.key === "Enter") { ev.preventDefault(); decide(); return; }
    // Inside the code box ←/→ move the caret, as in any text box (to fix one character of a code); ↑/↓ move
    // between items everywhere.
    const inCode = ev.target === $("code");
    if (ev.key === "ArrowUp" || (ev.key === "ArrowLeft" && !inCode)) { ev.preventDefault(); move(-1); return; }
    if (ev.key === "ArrowDown" || (ev.key === "ArrowRight" && !inCode)) { ev.preventDefault(); move(1); return; }
    if (ev.target === $("code")) return;
    const o = it.options.find((o) => o.key === ev.key);
    if (o) {
      ev.preventDefault();
      selected = o.value;
      $("error").textContent = "";
      render();
    }
  });
  $("code").addEventListener("input", checkCode);
  $("prev").onclick = () => move(-1);
  $("next").onclick = () => move(1);
  $("confirm").onclick = () => decide();

  api("api/items").then((data) => {
    items = data.items;
    $("operator").textContent = "Người xem: " + data.operator;
    // Resume where the last session stopped: the first item nobody has decided yet.
    const first = items.findIndex((i) => !i.decision);
    idx = first >= 0 ? first : Math.max(0, items.length - 1);
    document.body.dataset.ready = "1";
    render();
  }).catch((e) => { $("error").textContent = "Không tải được danh sách: " + e.message; });
})();
