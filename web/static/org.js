// The download history of an organization's page: pages through
// GET /api/v1/downloads (which keeps an org-admin to its own
// organization) and shows each download with the names the page lists
// for the ids the API answers with. Loaded from the portal itself: the
// Content-Security-Policy allows no inline script.
"use strict";

(function () {
  var section = document.getElementById("history");
  if (!section) {
    return;
  }
  var table = document.getElementById("history-table");
  var tbody = table.querySelector("tbody");
  var status = section.querySelector(".history-status");
  var empty = section.querySelector(".history-empty");
  var more = section.querySelector(".history-more");
  var pageSize = 25;
  var next = "";
  var shown = 0;

  var names = {};
  document.querySelectorAll("#names li").forEach(function (li) {
    names[li.dataset.id] = li.textContent;
  });

  function name(id) {
    return names[id] || id || "";
  }

  var bytes = window.Freight.formatBytes;

  function when(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) {
      return iso;
    }
    return d.toISOString().slice(0, 16).replace("T", " ");
  }

  function cell(row, text, header) {
    var el = document.createElement(header ? "th" : "td");
    if (header) {
      el.scope = "row";
    }
    el.textContent = text;
    row.appendChild(el);
  }

  function load() {
    more.disabled = true;
    status.textContent = "Loading the history…";
    var url = "/api/v1/downloads?limit=" + pageSize + (next ? "&after=" + encodeURIComponent(next) : "");
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } }).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (data) {
        if (!resp.ok) {
          throw new Error((data.error && data.error.message) || "The portal answered " + resp.status + ".");
        }
        return data;
      });
    }, function () {
      throw new Error("The portal could not be reached. Check your connection and try again.");
    }).then(function (data) {
      (data.items || []).forEach(function (d) {
        var tr = document.createElement("tr");
        cell(tr, when(d.started_at), true);
        cell(tr, name(d.artifact_id));
        cell(tr, name(d.actor));
        cell(tr, bytes(d.bytes));
        cell(tr, d.completed ? "yes" : "no");
        cell(tr, d.via);
        tbody.appendChild(tr);
        shown++;
      });
      next = data.next || "";
      table.hidden = shown === 0;
      empty.hidden = shown !== 0;
      more.hidden = next === "";
      var count = shown === 1 ? "1 download" : shown + " downloads";
      status.textContent = shown === 0 ? "" : count + (next ? " shown; older ones follow." : ", the whole history.");
    }, function (err) {
      status.textContent = err.message;
      status.classList.add("field-error");
    }).finally(function () {
      more.disabled = false;
    });
  }

  more.addEventListener("click", load);
  load();
})();
