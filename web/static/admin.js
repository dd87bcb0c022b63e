// The vendor console's forms: organizations, members, entitlements,
// quotas, users, licenses, edges and webhooks (an organization's webhooks
// page loads it too). The pages are rendered on the server; this script
// sends their forms to the JSON API with typed values (lists, numbers,
// dates, nested fields), previews draft entitlements, and shows an edge's
// credential or a webhook's secret the one time the API answers it. It
// uses app.js's api() so that errors read the same everywhere.
"use strict";

(function () {
  var F = window.Freight;
  if (!F) {
    return;
  }

  function fieldError(name, message) {
    var err = new Error(message);
    err.field = name;
    return err;
  }

  // set writes value at a dotted name: limits.bytes → body.limits.bytes.
  function set(body, name, value) {
    var parts = name.split(".");
    var obj = body;
    for (var i = 0; i < parts.length - 1; i++) {
      if (typeof obj[parts[i]] !== "object" || obj[parts[i]] === null) {
        obj[parts[i]] = {};
      }
      obj = obj[parts[i]];
    }
    obj[parts[parts.length - 1]] = value;
  }

  // features reads one license feature per line: name, name=value, and
  // <=limit after either.
  function features(name, text) {
    var out = [];
    text.split("\n").forEach(function (line) {
      line = line.trim();
      if (line === "") {
        return;
      }
      var m = /^([^=<\s]+)(?:=(.*?))?(?:<=\s*(\d+))?$/.exec(line);
      if (!m) {
        throw fieldError(name, "Write one feature per line as name, name=value or name<=limit: \"" + line + "\" is none of these.");
      }
      var f = { name: m[1] };
      if (m[2] !== undefined && m[2].trim() !== "") {
        f.value = m[2].trim();
      }
      if (m[3] !== undefined) {
        f.limit = parseInt(m[3], 10);
      }
      out.push(f);
    });
    return out;
  }

  // value converts one field by its data-type. It answers undefined for a
  // field to leave out: an empty one, unless the form sends empty fields
  // (data-send-empty, for changes where empty clears a value).
  function value(el, sendEmpty) {
    var type = el.dataset.type || "";
    var raw = el.value.trim();
    switch (type) {
      case "bool":
        return el.checked;
      case "json":
        return JSON.parse(el.value);
      case "int":
        if (raw === "") {
          return sendEmpty ? 0 : undefined;
        }
        var scale = parseFloat(el.dataset.scale || "1");
        var n = Number(raw);
        if (!isFinite(n) || n < 0) {
          throw fieldError(el.name, "Enter a number of at least 0 in " + labelOf(el) + ".");
        }
        return Math.round(n * scale);
      case "list":
        if (raw === "") {
          return sendEmpty ? [] : undefined;
        }
        return raw.split(/[\s,]+/).filter(function (s) { return s !== ""; });
      case "date":
      case "date-end":
        if (raw === "") {
          return sendEmpty ? null : undefined;
        }
        if (!/^\d{4}-\d{2}-\d{2}$/.test(raw)) {
          throw fieldError(el.name, "Enter " + labelOf(el) + " as a date like 2026-01-31.");
        }
        return raw + (type === "date" ? "T00:00:00Z" : "T23:59:59Z");
      case "features":
        return raw === "" ? (sendEmpty ? [] : undefined) : features(el.name, el.value);
    }
    if (raw === "") {
      return sendEmpty ? "" : undefined;
    }
    return raw;
  }

  function labelOf(el) {
    return el.labels && el.labels.length ? "“" + el.labels[0].textContent.trim() + "”" : el.name;
  }

  // collect builds the JSON body of a console form. Checkboxes of type
  // "each" gather the checked values of their name into a list.
  function collect(form) {
    var body = {};
    var sendEmpty = form.dataset.sendEmpty !== undefined;
    var lists = {};
    form.querySelectorAll("input, select, textarea").forEach(function (el) {
      if (!el.name || el.disabled) {
        return;
      }
      if (el.dataset.type === "each") {
        lists[el.name] = lists[el.name] || [];
        if (el.checked) {
          lists[el.name].push(el.value);
        }
        return;
      }
      var v = value(el, sendEmpty);
      if (v !== undefined) {
        set(body, el.name, v);
      }
    });
    Object.keys(lists).forEach(function (name) {
      set(body, name, lists[name]);
    });
    return body;
  }

  // explain shows an error in its form, named by the label of the field
  // it is about: the API's messages say what is wrong, not where.
  function explain(form, err) {
    var el = err.field ? form.querySelector('[name="' + CSS.escape(err.field) + '"]') : null;
    if (el) {
      var legend = el.closest("fieldset") && el.closest("fieldset").querySelector("legend");
      var label = legend ? legend.textContent : (el.labels && el.labels.length ? el.labels[0].textContent : "");
      if (label.trim() !== "" && err.message.indexOf(label.trim()) !== 0) {
        err.message = label.trim() + ": " + err.message;
      }
    }
    F.showError(form, err);
  }

  function done(form, message) {
    var box = form.querySelector(".form-done");
    if (box) {
      box.textContent = message;
      box.hidden = false;
    } else {
      F.flash(message);
    }
  }

  var after = {
    reload: function () {
      window.location.reload();
    },
    go: function (form) {
      window.location.assign(F.localPath(form.dataset.next));
    },
    // org opens an organization's page, by its (possibly new) slug.
    org: function (form, data) {
      window.location.assign("/console/organizations/" + encodeURIComponent(data.slug));
    },
    // sent confirms an invitation, lists it with the pending ones and
    // clears the form for the next one.
    sent: function (form, data, body) {
      form.reset();
      form.querySelectorAll(".form-error").forEach(function (el) { el.hidden = true; });
      done(form, "Invitation sent to " + body.email + ".");
      if (F.addInvitation) {
        F.addInvitation(data);
      }
    },
    // secret shows a secret the API answers this once and keeps only
    // hashed or sealed (an edge's credential, a webhook's signing
    // secret), so the page never has it again: in the box of the form's
    // list item or section, data-field naming the answer's field.
    secret: function (form, data) {
      var scope = form.closest("li, section") || document;
      var box = scope.querySelector(".secret-once");
      if (!box) {
        return;
      }
      box.querySelector("code.credential").textContent = data[form.dataset.field || "secret"];
      form.hidden = true;
      box.hidden = false;
      box.focus();
    },
  };

  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!form.dataset || form.dataset.admin === undefined) {
      return;
    }
    ev.preventDefault();
    var method = form.dataset.method || "POST";
    var body;
    try {
      body = collect(form);
    } catch (err) {
      explain(form, err);
      return;
    }
    var button = form.querySelector("[type=submit]");
    if (button) {
      button.disabled = true;
    }
    F.api(method, form.dataset.admin, method === "DELETE" ? undefined : body).then(function (data) {
      (after[form.dataset.then] || after.reload)(form, data, body);
    }, function (err) {
      explain(form, err);
    }).finally(function () {
      if (button) {
        button.disabled = false;
      }
    });
  });

  // preview asks the portal what the organization would see with the
  // entitlement form's draft, and lists it below the form.
  function preview(button) {
    var form = button.closest("form");
    var box = document.getElementById(button.dataset.target);
    if (!form || !box) {
      return;
    }
    var draft;
    try {
      draft = collect(form);
    } catch (err) {
      explain(form, err);
      return;
    }
    delete draft.org_id;
    var body = { entitlement: draft };
    if (button.dataset.replaces) {
      body.replaces = button.dataset.replaces;
    }
    button.disabled = true;
    F.api("POST", button.dataset.preview, body).then(function (data) {
      var err = form.querySelector(".form-error");
      if (err) {
        err.hidden = true;
      }
      showPreview(box, data.items || [], button.dataset.org || "The organization");
    }, function (err) {
      explain(form, err);
    }).finally(function () {
      button.disabled = false;
    });
  }

  var changeLabel = { added: "new", removed: "no longer", kept: "" };

  function showPreview(box, items, org) {
    box.textContent = "";
    var seen = items.filter(function (e) { return e.change !== "removed"; });
    var h = document.createElement("h4");
    h.className = "h4";
    h.textContent = seen.length === 0 ? org + " would see no releases with this draft." :
      org + " would see " + seen.length + (seen.length === 1 ? " release" : " releases") + " with this draft:";
    box.appendChild(h);
    if (items.length > 0) {
      var ul = document.createElement("ul");
      ul.className = "plain release-list";
      items.forEach(function (e) {
        var li = document.createElement("li");
        li.className = "release-row change-" + e.change;
        var name = document.createElement("strong");
        name.textContent = e.product.name + " " + e.release.version;
        li.appendChild(name);
        li.appendChild(document.createTextNode(" "));
        var ch = document.createElement("span");
        ch.className = "badge badge-" + e.release.channel;
        ch.textContent = e.release.channel;
        li.appendChild(ch);
        var files = document.createElement("span");
        files.className = "muted";
        files.textContent = " · " + e.artifacts.length + (e.artifacts.length === 1 ? " file" : " files");
        li.appendChild(files);
        if (changeLabel[e.change]) {
          li.appendChild(document.createTextNode(" "));
          var tag = document.createElement("span");
          tag.className = "badge badge-" + (e.change === "added" ? "active" : "revoked");
          tag.textContent = changeLabel[e.change];
          li.appendChild(tag);
        }
        ul.appendChild(li);
      });
      box.appendChild(ul);
    }
    box.hidden = false;
    box.focus();
  }

  document.addEventListener("click", function (ev) {
    var el = ev.target.closest("button");
    if (el && el.dataset.preview) {
      preview(el);
    }
  });
})();
