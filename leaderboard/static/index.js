// Index page: sortable columns, a row filter and the metric shown in the benchmark columns. No data is read from
// anywhere but the table itself, so the page works from file:// and from any static server.
(function () {
  "use strict";

  function cellValue(row, col, kind, metric) {
    var td = row.querySelector('td[data-col="' + col + '"]');
    if (!td) return null;
    var raw = kind === "metric" ? td.getAttribute("data-" + metric) : td.getAttribute("data-v");
    if (raw === null || raw === "") return null;
    if (kind === "text") return raw.toLowerCase();
    var num = parseFloat(raw);
    return isNaN(num) ? null : num;
  }

  function sortTable(table, th) {
    var col = th.getAttribute("data-col");
    var kind = th.getAttribute("data-kind");
    var metric = table.getAttribute("data-metric") || "asr";
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    table.querySelectorAll("th[aria-sort]").forEach(function (other) { other.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = cellValue(a, col, kind, metric), y = cellValue(b, col, kind, metric);
      if (x === null && y === null) return 0;
      if (x === null) return 1;  // missing values always last
      if (y === null) return -1;
      var c = x < y ? -1 : x > y ? 1 : 0;
      return ascending ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }

  function applyFilter(query) {
    var q = query.trim().toLowerCase();
    var shown = 0, total = 0;
    document.querySelectorAll("table.board tbody tr").forEach(function (tr) {
      var match = !q || (tr.getAttribute("data-search") || "").indexOf(q) !== -1;
      tr.hidden = !match;
      if (tr.closest("#main-table")) { total += 1; if (match) shown += 1; }
    });
    var count = document.getElementById("shown-count");
    if (count) count.textContent = q ? shown + " of " + total + " rows match \u201c" + query.trim() + "\u201d" : "";
  }

  document.querySelectorAll("table.board").forEach(function (table) {
    table.querySelectorAll("th.sortable").forEach(function (th) {
      th.tabIndex = 0;
      th.addEventListener("click", function () { sortTable(table, th); });
      th.addEventListener("keydown", function (ev) {
        if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); sortTable(table, th); }
      });
    });
  });

  var filter = document.getElementById("filter");
  if (filter) {
    filter.addEventListener("input", function () { applyFilter(filter.value); });
    if (filter.value) applyFilter(filter.value);
  }

  var metric = document.getElementById("metric");
  var main = document.getElementById("main-table");
  if (metric && main) {
    metric.addEventListener("change", function () {
      main.setAttribute("data-metric", metric.value);
      var sorted = main.querySelector('th[aria-sort][data-kind="metric"]');
      if (sorted) {  // re-sort by the newly shown metric, keeping the direction
        var dir = sorted.getAttribute("aria-sort");
        sorted.setAttribute("aria-sort", dir === "ascending" ? "descending" : "ascending");
        sortTable(main, sorted);
      }
    });
  }
})();
