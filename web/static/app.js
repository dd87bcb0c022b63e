// Freight's pages are rendered on the server; this script sends their
// forms and buttons to the JSON API, and shows the answers. It is loaded
// from the portal itself (the Content-Security-Policy allows no inline
// script), and every change goes through /api/, which refuses requests
// made from other sites.
"use strict";

(function () {
  var offline = "The portal could not be reached. Check your connection and try again.";

  // api calls the JSON API and resolves to the decoded answer, or rejects
  // with an Error whose message is the portal's own.
  function api(method, url, body) {
    var opts = { method: method, credentials: "same-origin", headers: { "Accept": "application/json" } };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    return fetch(url, opts).then(function (resp) {
      if (resp.status === 204) {
        return {};
      }
      return resp.json().catch(function () { return {}; }).then(function (data) {
        if (!resp.ok) {
          var e = (data && data.error) || {};
          var err = new Error(e.message || "The portal answered " + resp.status + ".");
          err.field = e.field || "";
          err.status = resp.status;
          throw err;
        }
        return data;
      });
    }, function () {
      throw new Error(offline);
    });
  }

  // localPath keeps a path to go to after sign-in on this site.
  function localPath(p) {
    return typeof p === "string" && /^\/(?![\/\\])/.test(p) ? p : "/";
  }

  function showError(form, err) {
    var box = form.querySelector(".form-error");
    form.querySelectorAll("[aria-invalid]").forEach(function (el) { el.removeAttribute("aria-invalid"); });
    if (err.field) {
      var input = form.querySelector('[name="' + CSS.escape(err.field) + '"]');
      if (input) {
        input.setAttribute("aria-invalid", "true");
      }
    }
    if (!box) {
      flash(err.message, true);
      return;
    }
    box.textContent = err.message;
    box.hidden = false;
    box.focus();
  }

  function flash(message, isError) {
    var el = document.getElementById("flash");
    if (!el) {
      return;
    }
    el.textContent = message;
    el.classList.toggle("notice-error", !!isError);
    el.hidden = false;
  }

  // reveal shows the element after form that matches sel (inside the
  // form's section), hides form, and moves the focus there so that
  // keyboard and screen-reader users land on the news.
  function reveal(form, sel) {
    var scope = form.closest("section, .narrow, main") || document;
    var el = scope.querySelector(sel);
    if (!el) {
      return null;
    }
    form.hidden = true;
    el.hidden = false;
    el.focus();
    return el;
  }

  function formBody(form) {
    var body = {};
    var mismatch = null;
    form.querySelectorAll("input, select, textarea").forEach(function (el) {
      if (el.dataset.confirm !== undefined) {
        var other = form.querySelector('[name="' + CSS.escape(el.dataset.confirm) + '"]');
        if (other && other.value !== el.value) {
          mismatch = el;
        }
        return;
      }
      if (!el.name || el.disabled) {
        return;
      }
      if (el.type === "checkbox") {
        body[el.name] = el.checked;
        return;
      }
      // An empty field is left out, so that the API keeps its default or
      // the current value; data-send-empty marks a field that may be
      // emptied on purpose.
      if (el.value !== "" || el.dataset.sendEmpty !== undefined) {
        body[el.name] = el.value;
      }
    });
    if (form.dataset.token !== undefined) {
      body.token = new URLSearchParams(window.location.search).get("token") || "";
    }
    if (mismatch) {
      var err = new Error("The two passwords differ: type the same one twice.");
      err.field = mismatch.dataset.confirm;
      throw err;
    }
    return body;
  }

  var months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  // dateText writes an instant as the server's pages do: "2 Jan 2006",
  // and with withTime "2 Jan 2006 15:04 UTC".
  function dateText(iso, withTime) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) {
      return iso || "";
    }
    var out = d.getUTCDate() + " " + months[d.getUTCMonth()] + " " + d.getUTCFullYear();
    if (withTime) {
      out += " " + ("0" + d.getUTCHours()).slice(-2) + ":" + ("0" + d.getUTCMinutes()).slice(-2) + " UTC";
    }
    return out;
  }

  // addInvitation shows an invitation the API just answered in the page's
  // list of pending invitations (#invitation-list), as the server renders
  // one, with a Withdraw button when the list names where to send it.
  function addInvitation(inv) {
    var list = document.getElementById("invitation-list");
    if (!list || !inv || !inv.id) {
      return;
    }
    var li = document.createElement("li");
    li.className = "row-item invitation";
    li.id = "inv-" + inv.id;
    var text = document.createElement("div");
    var email = document.createElement("strong");
    email.textContent = inv.email;
    var role = document.createElement("span");
    role.className = "muted";
    role.textContent = "· " + (inv.role || inv.vendor_role || "");
    var meta = document.createElement("div");
    meta.className = "muted";
    var expires = document.createElement("time");
    expires.dateTime = inv.expires_at;
    expires.textContent = dateText(inv.expires_at, true);
    meta.append("invited by " + (inv.inviter || inv.created_by) + " on " + dateText(inv.created_at, false) + " · expires ", expires);
    text.append(email, " ", role, meta);
    li.appendChild(text);
    if (list.dataset.withdraw) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "small danger";
      button.dataset.delete = list.dataset.withdraw + encodeURIComponent(inv.id);
      var label = document.createElement("span");
      label.className = "visually-hidden";
      label.textContent = "the invitation of " + inv.email;
      button.append("Withdraw ", label);
      li.appendChild(button);
    }
    list.appendChild(li);
    var none = document.getElementById("no-invitations");
    if (none) {
      none.hidden = true;
    }
  }

  var after = {
    go: function (form) {
      window.location.assign(localPath(form.dataset.next));
    },
    reload: function () {
      window.location.reload();
    },
    done: function (form) {
      reveal(form, ".done");
    },
    // invited confirms an invitation and lists it with the pending ones.
    invited: function (form, data) {
      reveal(form, ".done");
      addInvitation(data);
    },
    signin: function (form, data) {
      var next = localPath(form.dataset.next);
      if (data.mfa_required) {
        window.location.assign("/sign-in/mfa?return_to=" + encodeURIComponent(next));
      } else if (data.mfa_enrollment) {
        window.location.assign("/account#mfa");
      } else {
        window.location.assign(next);
      }
    },
    "mfa-begin": function (form, data) {
      var box = reveal(form, ".mfa-setup");
      if (!box) {
        return;
      }
      var img = box.querySelector("img.qr");
      // The key changed: ask for the new picture, not a cached one.
      img.src = img.dataset.src + "?v=" + Date.now();
      box.querySelector(".mfa-secret").textContent = data.secret;
      var code = box.querySelector("input[name=code]");
      if (code) {
        code.focus();
      }
    },
    codes: function (form, data) {
      var section = form.closest("section");
      var list = section.querySelector(".recovery-codes");
      list.textContent = "";
      (data.recovery_codes || []).forEach(function (c) {
        var li = document.createElement("li");
        var code = document.createElement("code");
        code.textContent = c;
        li.appendChild(code);
        list.appendChild(li);
      });
      section.querySelectorAll("form, details, .mfa-setup").forEach(function (el) { el.hidden = true; });
      var box = section.querySelector(".codes");
      box.hidden = false;
      box.focus();
    },
    // cli sends the browser back to the command line that asked, on this
    // machine's loopback address, with the code the portal made.
    cli: function (form, data) {
      var to = data.redirect_to || "";
      if (!/^http:\/\/(127\.0\.0\.1|\[::1\]):[0-9]+\//.test(to)) {
        showError(form, new Error("The portal answered an address that is not this machine's."));
        return;
      }
      reveal(form, ".done");
      window.location.assign(to);
    },
    token: function (form, data) {
      var box = reveal(form, ".token-secret");
      if (box) {
        box.querySelector("code").textContent = data.secret;
      }
    },
  };

  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!form.dataset || !form.dataset.api) {
      return;
    }
    ev.preventDefault();
    var button = form.querySelector("[type=submit]");
    var body;
    try {
      body = formBody(form);
    } catch (err) {
      showError(form, err);
      return;
    }
    if (button) {
      button.disabled = true;
    }
    api(form.dataset.method || "POST", form.dataset.api, body).then(function (data) {
      var fn = after[form.dataset.then] || after.reload;
      fn(form, data);
    }, function (err) {
      showError(form, err);
    }).finally(function () {
      if (button) {
        button.disabled = false;
      }
    });
  });

  function download(button) {
    var status = document.getElementById("dl-" + button.dataset.download);
    button.disabled = true;
    if (status) {
      status.textContent = "Preparing the download…";
    }
    api("POST", "/api/v1/artifacts/" + encodeURIComponent(button.dataset.download) + "/download").then(function (data) {
      if (status) {
        status.textContent = "Download started.";
      }
      // A fresh signed URL, used at once: the server sends the file as an
      // attachment, so the page stays where it is.
      window.location.assign(data.url);
    }, function (err) {
      if (status) {
        status.textContent = err.message;
        status.classList.add("field-error");
      }
    }).finally(function () {
      button.disabled = false;
    });
  }

  function copy(button) {
    var target = document.getElementById(button.dataset.copy);
    if (!target) {
      return;
    }
    var text = target.textContent.trim();
    var done = function () {
      var label = button.textContent;
      button.textContent = "Copied";
      flash("Copied to the clipboard.");
      setTimeout(function () { button.textContent = label; }, 2000);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { select(target); });
    } else {
      // Without the clipboard API (plain http), select the text so that
      // Ctrl+C copies it.
      select(target);
      flash("Selected: press Ctrl+C (or ⌘C) to copy.");
    }
  }

  function select(el) {
    var range = document.createRange();
    range.selectNodeContents(el);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }

  function remove(button) {
    button.disabled = true;
    api("DELETE", button.dataset.delete).then(function () {
      if (button.dataset.next) {
        window.location.assign(localPath(button.dataset.next));
      } else {
        window.location.reload();
      }
    }, function (err) {
      flash(err.message, true);
      button.disabled = false;
    });
  }

  // formatBytes writes a size as the server's pages do (web.FormatBytes):
  // SI units, one decimal below 10.
  function formatBytes(n) {
    if (n < 1000) {
      return n === 1 ? "1 byte" : n + " bytes";
    }
    var units = ["kB", "MB", "GB", "TB", "PB"];
    var f = n;
    for (var i = 0; i < units.length; i++) {
      f /= 1000;
      if (f < 1000 || i === units.length - 1) {
        return (f < 10 ? f.toFixed(1) : f.toFixed(0)) + " " + units[i];
      }
    }
    return n + " bytes";
  }

  // Page scripts loaded after this one (console.js, admin.js, org.js) use
  // the same API helper and messages, and add their own steps after a
  // form is sent.
  window.Freight = { api: api, flash: flash, showError: showError, after: after, localPath: localPath, addInvitation: addInvitation,
    formatBytes: formatBytes };

  document.addEventListener("click", function (ev) {
    var el = ev.target.closest("button");
    if (!el) {
      return;
    }
    if (el.dataset.download) {
      download(el);
    } else if (el.dataset.copy) {
      copy(el);
    } else if (el.dataset.delete) {
      remove(el);
    }
  });
})();
