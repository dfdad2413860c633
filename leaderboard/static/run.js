// Run page: the sample browser. The data are JSON Lines copied from the run store into inert <script> elements
// (and data/samples-*.js); every value is treated as untrusted text: the DOM is built with createElement and
// textContent only, and media URLs come from the build's own asset map, never from the data.
(function () {
  "use strict";
  var root = document.body.getAttribute("data-root") || "";
  var meta = JSON.parse(document.getElementById("osh-meta").textContent);
  var shared = window.OSH_SAMPLES || { jsonl: "", media: {} };
  var own = Object.prototype.hasOwnProperty;

  // Like the run store's reader: complete lines only, and the first line that does not parse ends the file.
  function parseLines(text) {
    var out = [];
    var lines = String(text || "").split("\n");
    for (var i = 0; i < lines.length; i++) {
      if (!lines[i].trim()) continue;
      var obj;
      try { obj = JSON.parse(lines[i]); } catch (e) { break; }
      if (obj && typeof obj === "object") out.push(obj);
    }
    return out;
  }
  function fromElement(id) {
    var el = document.getElementById(id);
    return el ? parseLines(el.textContent) : [];
  }
  function str(x) { return x === null || x === undefined ? "" : typeof x === "string" ? x : JSON.stringify(x); }

  var samples = parseLines(shared.jsonl);
  var generations = new Map();
  fromElement("osh-generations").forEach(function (g) {
    var id = str(g.sample_id);
    if (!generations.has(id)) generations.set(id, g);  // first record wins, as in the run store
  });
  var verdicts = new Map();
  fromElement("osh-verdicts").forEach(function (v) {
    var judge = str(v.judge), id = str(v.sample_id);
    if (!verdicts.has(judge)) verdicts.set(judge, new Map());
    var m = verdicts.get(judge);
    if (!m.has(id)) m.set(id, v);
  });

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  var state = { page: 0, judge: meta.display_judge, label: "", verdict: "", search: "" };
  var pageSize = meta.page_size || 25;
  var judgeSelect = document.getElementById("sb-judge");
  meta.judges.forEach(function (j) {
    var opt = el("option", "", j.id + " \u2014 " + j.label);
    opt.value = j.id;
    if (j.id === state.judge) opt.selected = true;
    judgeSelect.appendChild(opt);
  });

  function textOf(sample) {
    var parts = [];
    (Array.isArray(sample.messages) ? sample.messages : []).forEach(function (m) {
      (m && Array.isArray(m.content) ? m.content : []).forEach(function (p) {
        if (p && p.type === "text") parts.push(str(p.text));
      });
    });
    return parts.join("\n");
  }

  function verdictOf(sample) {
    var m = verdicts.get(state.judge);
    return m ? m.get(str(sample.id)) : undefined;
  }

  function matches(sample) {
    if (state.label && sample.label !== state.label) return false;
    var v = verdictOf(sample);
    if (state.verdict === "none" ? v !== undefined : state.verdict && (!v || v.label !== state.verdict)) return false;
    if (state.search) {
      var g = generations.get(str(sample.id));
      var hay = (textOf(sample) + "\n" + (g ? str(g.response) : "") + "\n" + str(sample.id)).toLowerCase();
      if (hay.indexOf(state.search) === -1) return false;
    }
    return true;
  }

  function mediaNode(part) {
    var path = str(part.path);
    var asset = own.call(shared.media, path) ? shared.media[path] : null;
    var kind = str(part.type);
    if (!asset || typeof asset.src !== "string") {
      return el("span", "missing", kind + " not available" + (asset && asset.missing ? ": " + str(asset.missing) : ""));
    }
    var node;
    if (asset.kind === "image") {
      node = el("img");
      node.alt = kind + " input (thumbnail)";
    } else {
      node = el(asset.kind === "video" ? "video" : "audio");
      node.controls = true;
      node.preload = asset.kind === "video" ? "metadata" : "none";
    }
    node.src = root + asset.src;
    return node;
  }

  function card(sample) {
    var id = str(sample.id);
    var g = generations.get(id);
    var v = verdictOf(sample);
    var art = el("article", "sample");
    var head = el("header");
    head.appendChild(el("span", "sid", id));
    [sample.task, sample.config, sample.label, sample.category].forEach(function (t) {
      if (t !== null && t !== undefined && t !== "") head.appendChild(el("span", "tag", str(t)));
    });
    var vlabel = v ? str(v.label) : "none";
    head.appendChild(el("span", "verdict " + (/^(unsafe|safe|refusal|unknown)$/.test(vlabel) ? vlabel : "none"),
                        v ? vlabel : "no verdict"));
    art.appendChild(head);

    var cols = el("div", "cols");
    var left = el("div");
    left.appendChild(el("h4", "", "prompt"));
    (Array.isArray(sample.messages) ? sample.messages : []).forEach(function (m) {
      var media = el("div", "media");
      (m && Array.isArray(m.content) ? m.content : []).forEach(function (p) {
        if (!p || typeof p !== "object") return;
        if (p.type === "text") {
          var pre = el("pre", "text", (m.role && m.role !== "user" ? "[" + str(m.role) + "] " : "") + str(p.text));
          left.appendChild(pre);
        } else {
          media.appendChild(mediaNode(p));
        }
      });
      if (media.childNodes.length) left.appendChild(media);
    });
    var right = el("div");
    right.appendChild(el("h4", "", "response"));
    right.appendChild(el("pre", "text response", g ? str(g.response) : "(no generation)"));
    if (v && v.raw !== null && v.raw !== undefined && v.raw !== "") {
      right.appendChild(el("div", "raw", "judge output: " + str(v.raw)));
    }
    cols.appendChild(left);
    cols.appendChild(right);
    art.appendChild(cols);
    return art;
  }

  var list = document.getElementById("sb-list");
  var pageInfo = document.getElementById("sb-page");
  var prev = document.getElementById("sb-prev");
  var next = document.getElementById("sb-next");

  function render() {
    var shown = samples.filter(matches);
    var pages = Math.max(1, Math.ceil(shown.length / pageSize));
    state.page = Math.min(state.page, pages - 1);
    list.replaceChildren();
    shown.slice(state.page * pageSize, (state.page + 1) * pageSize).forEach(function (s) {
      list.appendChild(card(s));
    });
    if (!shown.length) {
      list.appendChild(el("p", "empty", samples.length ? "No sample matches." : "No samples in this run."));
    }
    pageInfo.textContent = "page " + (state.page + 1) + " of " + pages + " \u00b7 " + shown.length + " of " +
      samples.length + " samples";
    prev.disabled = state.page === 0;
    next.disabled = state.page >= pages - 1;
  }

  function bind(id, key, transform) {
    var node = document.getElementById(id);
    node.addEventListener(node.tagName === "INPUT" ? "input" : "change", function () {
      state[key] = transform ? transform(node.value) : node.value;
      state.page = 0;
      render();
    });
  }
  bind("sb-judge", "judge");
  bind("sb-label", "label");
  bind("sb-verdict", "verdict");
  bind("sb-search", "search", function (x) { return x.trim().toLowerCase(); });
  prev.addEventListener("click", function () { state.page -= 1; render(); });
  next.addEventListener("click", function () { state.page += 1; render(); });
  render();
})();
