// The vendor console's script, loaded on the console's pages after app.js,
// whose API helper it uses: where its forms lead, and the upload of
// release files from the browser.
//
// An upload follows the portal's multipart protocol, as "freight publish"
// does: create the artifact (which opens an upload session and answers
// its part size and the first part URLs), PUT the parts, several at a
// time, then complete, when the server reads the assembled file, computes
// its SHA-256 and makes it available. Each upload is remembered in
// localStorage (session, file name, size, modification time), so that
// after a reload or a lost connection, picking the same file again asks
// the server which parts it holds and sends only the others.
"use strict";

(function () {
  var F = window.Freight;
  if (!F) {
    return;
  }
  var api = F.api;

  // Parts in flight per file, attempts per part, and the longest wait
  // between two attempts.
  var CONCURRENCY = 4;
  var RETRIES = 8;
  var MAX_BACKOFF = 30000;
  // URLs asked for in one request, and how long before its expiry a part
  // URL is no longer used.
  var URL_BATCH = 50;
  var URL_MARGIN = 60000;
  // How often an upload the portal checks in the background is looked at.
  var VERIFY_POLL = 2000;

  F.after["console-product"] = function (form, data) {
    window.location.assign("/console/products/" + encodeURIComponent(data.slug));
  };
  F.after["console-release"] = function (form, data) {
    window.location.assign("/console/releases/" + encodeURIComponent(data.id));
  };

  // A new product's slug follows its name until someone types one.
  document.querySelectorAll("[data-slug-to]").forEach(function (name) {
    var slug = document.getElementById(name.dataset.slugTo);
    if (!slug) {
      return;
    }
    var typed = slug.value !== "";
    slug.addEventListener("input", function () { typed = slug.value !== ""; });
    name.addEventListener("input", function () {
      if (!typed) {
        slug.value = slugify(name.value);
      }
    });
  });

  function slugify(s) {
    return s.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 63).replace(/-+$/, "");
  }

  // ---- What this browser remembers of its uploads.

  var STORE_KEY = "freight.uploads";

  function records() {
    try {
      var v = JSON.parse(window.localStorage.getItem(STORE_KEY) || "[]");
      return Array.isArray(v) ? v : [];
    } catch (e) {
      return [];
    }
  }

  function saveRecords(list) {
    try {
      // Sessions past their expiry cannot be resumed: drop them.
      var now = Date.now();
      list = list.filter(function (r) { return !r.expires || Date.parse(r.expires) > now; });
      window.localStorage.setItem(STORE_KEY, JSON.stringify(list));
    } catch (e) {
      // Private browsing or a full store: uploads work, without resuming
      // across reloads.
    }
  }

  function remember(rec) {
    saveRecords(records().filter(function (r) { return r.upload !== rec.upload; }).concat([rec]));
  }

  function forget(pred) {
    saveRecords(records().filter(function (r) { return !pred(r); }));
  }

  function findRecord(release, file) {
    var now = Date.now();
    return records().filter(function (r) {
      return r.release === release && r.name === file.name && r.size === file.size &&
        r.modified === file.lastModified && (!r.expires || Date.parse(r.expires) > now);
    })[0] || null;
  }

  // Deleting a file forgets its upload.
  document.addEventListener("click", function (ev) {
    var el = ev.target.closest("button[data-forget]");
    if (el) {
      var id = el.dataset.forget;
      forget(function (r) { return r.artifact === id; });
    }
  });

  // ---- Formatting for people.

  var formatBytes = F.formatBytes;

  function formatDuration(s) {
    s = Math.max(1, Math.round(s));
    if (s < 60) {
      return s + " s";
    }
    if (s < 3600) {
      return Math.floor(s / 60) + " min " + (s % 60) + " s";
    }
    return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  }

  // cleanName turns a local file name into one the portal accepts.
  function cleanName(name) {
    var n = name.replace(/[^A-Za-z0-9._+-]+/g, "-").replace(/^[^A-Za-z0-9]+/, "").slice(0, 255);
    return n || "file";
  }

  function guessPlatform(name) {
    var n = name.toLowerCase();
    if (/\.(exe|msi|msix)$|win(dows|32|64)?[^a-z]/.test(n)) {
      return "windows";
    }
    if (/\.(dmg|pkg)$|mac|darwin|osx/.test(n)) {
      return "macos";
    }
    if (/\.(deb|rpm|appimage)$|linux/.test(n)) {
      return "linux";
    }
    return "any";
  }

  function guessArch(name) {
    var n = name.toLowerCase();
    if (/x86[_-]64|amd64|x64/.test(n)) {
      return "x86_64";
    }
    if (/arm64|aarch64/.test(n)) {
      return "arm64";
    }
    return "any";
  }

  // ---- Waiting.

  function backoff(attempt) {
    var d = Math.min(MAX_BACKOFF, 1000 * Math.pow(2, attempt - 1));
    // Somewhere in [d/2, d): many uploads failing at once spread out.
    return d / 2 + Math.random() * d / 2;
  }

  var pausedError = function () {
    var e = new Error("Paused.");
    e.paused = true;
    return e;
  };

  // wait resolves after ms, and not before the browser is online again;
  // it rejects when the upload is paused meanwhile.
  function wait(item, ms) {
    return new Promise(function (resolve, reject) {
      var done = false;
      var wake = function () {
        done = true;
        reject(pausedError());
      };
      var finish = function () {
        if (done) {
          return;
        }
        if (!navigator.onLine) {
          window.addEventListener("online", finish, { once: true });
          return;
        }
        done = true;
        item.wakers.splice(item.wakers.indexOf(wake), 1);
        resolve();
      };
      item.wakers.push(wake);
      setTimeout(finish, ms);
    });
  }

  // retryable tells a failure that may pass (no answer, a busy or failing
  // server, an expired part URL) from one that will not.
  function retryable(err, partRequest) {
    var s = err.status;
    if (!s) {
      return true;
    }
    if (s === 408 || s === 429 || s >= 500) {
      return true;
    }
    // A part URL that expired is refused (401 by the portal, 403 by S3):
    // a new one is asked for.
    return !!partRequest && (s === 401 || s === 403);
  }

  // ---- The upload form.

  var section = document.getElementById("upload");
  if (section) {
    setUpUpload(section);
  }

  function setUpUpload(section) {
    var release = section.dataset.release;
    var form = section.querySelector(".upload-form");
    var input = form.querySelector("input[type=file]");
    var list = form.querySelector(".upload-list");
    var startButton = form.querySelector(".upload-start");
    var template = document.getElementById("upload-row");
    var news = section.querySelector(".upload-news");
    var items = [];
    var seq = 0;
    var running = false;
    var finished = 0;

    function announce(msg) {
      news.textContent = msg;
    }

    showUnfinished();

    input.addEventListener("change", function () {
      Array.prototype.forEach.call(input.files, addItem);
      // Picking the same file again must fire change again.
      input.value = "";
      refreshStart();
      showUnfinished();
    });

    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      items.forEach(function (item) {
        if (item.state === "ready") {
          item.state = "queued";
          show(item, "Waiting for the files before it…");
          setButtons(item);
        }
      });
      refreshStart();
      runQueue();
    });

    window.addEventListener("beforeunload", function (ev) {
      if (items.some(function (i) { return i.state === "sending" || i.state === "queued"; })) {
        // The upload would stop; it can be resumed, but warn all the same.
        ev.preventDefault();
        ev.returnValue = "";
      }
    });

    function refreshStart() {
      startButton.disabled = !items.some(function (i) { return i.state === "ready"; });
    }

    function addItem(file) {
      var dup = items.some(function (i) {
        return i.state !== "done" && i.file.name === file.name && i.file.size === file.size && i.file.lastModified === file.lastModified;
      });
      if (dup) {
        return;
      }
      var n = ++seq;
      var li = template.content.firstElementChild.cloneNode(true);
      li.querySelectorAll("[data-name]").forEach(function (el) {
        el.id = "up-" + n + "-" + el.dataset.name;
        el.name = el.dataset.name;
      });
      li.querySelectorAll("label[data-for]").forEach(function (l) {
        l.htmlFor = "up-" + n + "-" + l.dataset.for;
      });
      var item = {
        file: file, li: li, state: "ready", xhrs: [], wakers: [], urls: {}, pending: {}, inflight: {}, confirmed: 0,
        bar: li.querySelector(".upload-bar"), status: li.querySelector(".upload-status"),
        note: li.querySelector(".upload-note"), fields: {},
      };
      ["filename", "platform", "arch"].forEach(function (k) { item.fields[k] = li.querySelector("[data-name=" + k + "]"); });
      li.querySelector(".upload-source").textContent = file.name + " · " + formatBytes(file.size);
      item.bar.max = Math.max(file.size, 1);
      item.bar.setAttribute("aria-label", "Upload of " + file.name);
      item.rec = findRecord(release, file);
      if (item.rec) {
        item.fields.filename.value = item.rec.filename;
        item.fields.platform.value = item.rec.platform;
        item.fields.arch.value = item.rec.arch;
        lockFields(item);
        item.note.textContent = "This browser began uploading this file on " + new Date(item.rec.started).toLocaleString() +
          ": only the parts the portal does not have yet are sent.";
        item.note.hidden = false;
        show(item, "Ready to resume.");
      } else {
        item.fields.filename.value = cleanName(file.name);
        item.fields.platform.value = guessPlatform(file.name);
        item.fields.arch.value = guessArch(file.name);
        show(item, "Ready to upload " + formatBytes(file.size) + ".");
      }
      li.addEventListener("click", function (ev) {
        var b = ev.target.closest("button[data-action]");
        if (!b) {
          return;
        }
        if (b.dataset.action === "pause") {
          pause(item);
        } else if (b.dataset.action === "resume") {
          item.state = "queued";
          setButtons(item);
          runQueue();
        } else if (b.dataset.action === "remove") {
          items.splice(items.indexOf(item), 1);
          li.remove();
          refreshStart();
          input.focus();
        }
      });
      items.push(item);
      list.appendChild(li);
      setButtons(item);
    }

    function lockFields(item) {
      Object.keys(item.fields).forEach(function (k) { item.fields[k].readOnly = true; });
    }

    function setButtons(item) {
      var st = item.state;
      item.li.querySelector("[data-action=pause]").hidden = st !== "sending";
      var resume = item.li.querySelector("[data-action=resume]");
      resume.hidden = st !== "paused" && st !== "failed";
      resume.textContent = st === "failed" ? "Try again" : "Resume";
      item.li.querySelector("[data-action=remove]").hidden = st === "sending" || st === "queued";
      item.li.dataset.state = st;
    }

    function show(item, text, isError) {
      item.status.textContent = text;
      item.status.classList.toggle("field-error", !!isError);
    }

    function runQueue() {
      if (running) {
        return;
      }
      var next = items.filter(function (i) { return i.state === "queued"; })[0];
      if (!next) {
        idle();
        return;
      }
      running = true;
      upload(next).finally(function () {
        running = false;
        runQueue();
      });
    }

    // idle runs when no file is left to send: the lists of files and the
    // publish section are read again from the server.
    function idle() {
      showUnfinished();
      if (finished === 0) {
        return;
      }
      finished = 0;
      fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } }).then(function (resp) {
        return resp.ok ? resp.text() : Promise.reject(new Error(String(resp.status)));
      }).then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        ["files", "publish"].forEach(function (id) {
          var fresh = doc.getElementById(id);
          var old = document.getElementById(id);
          if (fresh && old) {
            old.replaceWith(document.importNode(fresh, true));
          }
        });
      }).catch(function () {
        // The page is only out of date; a reload shows the files.
      });
    }

    function pause(item) {
      item.paused = true;
      item.xhrs.slice().forEach(function (x) { x.abort(); });
      item.wakers.splice(0).forEach(function (w) { w(); });
    }

    // upload sends one file and settles when it is uploaded, failed or
    // paused.
    function upload(item) {
      item.state = "sending";
      item.paused = false;
      item.error = null;
      Object.keys(item.fields).forEach(function (k) { item.fields[k].removeAttribute("aria-invalid"); });
      setButtons(item);
      show(item, item.rec ? "Asking the portal what it has…" : "Starting…");
      announce("Uploading " + item.file.name + ".");
      item.began = Date.now();
      item.base = 0;
      item.checking = false;
      item.samples = [];
      var ticker = setInterval(function () { tick(item); }, 1000);
      return prepare(item).then(function (artifact) {
        if (artifact) {
          return artifact; // the portal had it all already
        }
        if (item.up.state === "completing") {
          return complete(item); // being checked already: nothing to send
        }
        return sendMissing(item).then(function () { return complete(item); });
      }).finally(function () {
        clearInterval(ticker);
      }).then(function (artifact) {
        done(item, artifact);
      }, function (err) {
        item.xhrs.slice().forEach(function (x) { x.abort(); });
        if (err.paused || item.paused) {
          item.state = "paused";
          show(item, "Paused at " + formatBytes(item.bar.value) + " of " + formatBytes(item.file.size) + ".");
          announce(item.file.name + " paused.");
        } else {
          item.state = "failed";
          var field = err.field && item.fields[err.field];
          if (field && !item.rec) {
            field.setAttribute("aria-invalid", "true");
          }
          show(item, (field ? field.labels[0].textContent + ": " : "") + err.message, true);
          announce(item.file.name + " failed: " + err.message);
        }
        setButtons(item);
      });
    }

    // prepare finds the upload session to continue, or creates the
    // artifact and its session. It resolves to the artifact when the
    // portal has the whole file already.
    function prepare(item) {
      var rec = item.rec;
      if (!rec) {
        return create(item);
      }
      return api("GET", "/api/v1/uploads/" + encodeURIComponent(rec.upload)).then(function (up) {
        if (up.state === "completed") {
          // Completed after this page lost the answer: nothing to send.
          item.resumed = true;
          item.base = item.file.size;
          return api("GET", "/api/v1/artifacts/" + encodeURIComponent(rec.artifact));
        }
        var fresh = Date.parse(up.expires_at) - Date.now() > URL_MARGIN;
        if ((up.state === "open" && fresh) || up.state === "completing") {
          item.up = up;
          item.received = up.received || [];
          item.resumed = true;
          return null;
        }
        // Expired, cancelled or failed: start this file again.
        return discard(item).then(function () { return create(item); });
      }, function (err) {
        if (err.status === 404) {
          forget(function (r) { return r.upload === rec.upload; });
          item.rec = null;
          return create(item);
        }
        throw err;
      });
    }

    function discard(item) {
      var rec = item.rec;
      return api("DELETE", "/api/v1/artifacts/" + encodeURIComponent(rec.artifact)).catch(function (err) {
        if (err.status !== 404) {
          throw err;
        }
      }).then(function () {
        forget(function (r) { return r.upload === rec.upload; });
        item.rec = null;
      });
    }

    function create(item) {
      var body = {
        filename: item.fields.filename.value.trim(),
        platform: item.fields.platform.value.trim(),
        arch: item.fields.arch.value.trim(),
        size: item.file.size,
      };
      return api("POST", "/api/v1/releases/" + encodeURIComponent(release) + "/artifacts", body).then(function (ans) {
        item.up = ans.upload;
        item.received = [];
        item.resumed = false;
        cacheURLs(item, ans);
        item.rec = {
          release: release, upload: ans.upload.id, artifact: ans.artifact.id,
          name: item.file.name, size: item.file.size, modified: item.file.lastModified,
          filename: body.filename, platform: body.platform, arch: body.arch,
          expires: ans.upload.expires_at, started: Date.now(),
        };
        remember(item.rec);
        lockFields(item);
        return null;
      });
    }

    function cacheURLs(item, ans) {
      var expires = Date.parse(ans.expires_at);
      (ans.urls || []).forEach(function (u) {
        item.urls[u.number] = { url: u.url, expires: expires };
      });
    }

    function partSize(item, n) {
      var ps = item.up.part_size;
      return Math.max(0, Math.min(ps, item.file.size - (n - 1) * ps));
    }

    // sendMissing sends every part the portal does not hold, CONCURRENCY
    // at a time; the first part that fails for good stops the others.
    function sendMissing(item) {
      var up = item.up;
      var have = {};
      item.confirmed = 0;
      item.inflight = {};
      (item.received || []).forEach(function (p) {
        if (p.number >= 1 && p.number <= up.parts && p.size === partSize(item, p.number)) {
          have[p.number] = true;
          item.confirmed += p.size;
        }
      });
      var missing = [];
      for (var n = 1; n <= up.parts; n++) {
        if (!have[n]) {
          missing.push(n);
        }
      }
      item.missing = missing;
      item.base = item.confirmed;
      item.lastText = 0;
      progress(item);
      if (item.resumed) {
        item.note.textContent = "Resumed where it stopped: the portal had " + formatBytes(item.confirmed) + " (" +
          (up.parts - missing.length) + " of " + up.parts + " parts); only the other " + missing.length +
          " part" + (missing.length === 1 ? " is" : "s are") + " sent.";
        item.note.hidden = false;
      }
      var next = 0;
      var failed = null;
      var worker = function () {
        if (failed || item.paused || next >= missing.length) {
          return Promise.resolve();
        }
        var n = missing[next++];
        return sendPart(item, n).then(worker);
      };
      var workers = [];
      for (var i = 0; i < Math.min(CONCURRENCY, missing.length); i++) {
        workers.push(worker().catch(function (err) {
          if (!failed) {
            failed = err;
            item.xhrs.slice().forEach(function (x) { x.abort(); });
          }
        }));
      }
      return Promise.all(workers).then(function () {
        if (failed) {
          throw failed;
        }
        if (item.paused) {
          throw pausedError();
        }
      });
    }

    function sendPart(item, n) {
      var size = partSize(item, n);
      var offset = (n - 1) * item.up.part_size;
      var attempt = 0;
      var once = function () {
        if (item.paused) {
          return Promise.reject(pausedError());
        }
        var viaPartURL = false;
        return partURL(item, n).then(function (url) {
          viaPartURL = true;
          return put(item, url, item.file.slice(offset, offset + size), function (loaded) {
            item.inflight[n] = Math.min(loaded, size);
            progress(item);
          });
        }).then(function () {
          delete item.inflight[n];
          item.confirmed += size;
          progress(item);
        }, function (err) {
          delete item.inflight[n];
          progress(item);
          if (item.paused || err.paused) {
            throw pausedError();
          }
          if (viaPartURL && (err.status === 401 || err.status === 403)) {
            delete item.urls[n];
          }
          attempt++;
          if (!retryable(err, viaPartURL) || attempt >= RETRIES) {
            throw err;
          }
          var d = backoff(attempt);
          show(item, "Part " + n + " did not arrive (" + err.message + "); trying again in " + formatDuration(d / 1000) + ".");
          return wait(item, d).then(once);
        });
      };
      return once();
    }

    // partURL returns a URL for part n that is good for a while, asking
    // for it and the next missing parts' URLs in one request when needed.
    function partURL(item, n) {
      var u = item.urls[n];
      if (u && u.expires - Date.now() > URL_MARGIN) {
        return Promise.resolve(u.url);
      }
      if (item.pending[n]) {
        return item.pending[n];
      }
      var want = [n];
      var from = item.missing.indexOf(n);
      for (var i = from + 1; i < item.missing.length && want.length < URL_BATCH; i++) {
        var m = item.missing[i];
        var c = item.urls[m];
        if (!item.pending[m] && !(c && c.expires - Date.now() > URL_MARGIN)) {
          want.push(m);
        }
      }
      var req = api("POST", "/api/v1/uploads/" + encodeURIComponent(item.up.id) + "/urls", { parts: want }).then(function (ans) {
        cacheURLs(item, ans);
        return ans;
      });
      want.forEach(function (m) {
        item.pending[m] = req.then(function () {
          return item.urls[m].url;
        }).finally(function () {
          delete item.pending[m];
        });
      });
      return item.pending[n];
    }

    // put sends one part with XMLHttpRequest, whose upload events report
    // the bytes as they go.
    function put(item, url, blob, onProgress) {
      return new Promise(function (resolve, reject) {
        var xhr = new XMLHttpRequest();
        var settle = function (fn, arg) {
          var i = item.xhrs.indexOf(xhr);
          if (i >= 0) {
            item.xhrs.splice(i, 1);
          }
          fn(arg);
        };
        xhr.open("PUT", url);
        xhr.upload.onprogress = function (e) { onProgress(e.loaded); };
        xhr.onload = function () {
          if (xhr.status >= 200 && xhr.status < 300) {
            settle(resolve);
          } else {
            settle(reject, xhrError(xhr));
          }
        };
        xhr.onerror = function () {
          settle(reject, new Error("the connection failed"));
        };
        xhr.onabort = function () {
          settle(reject, pausedError());
        };
        item.xhrs.push(xhr);
        xhr.send(blob);
      });
    }

    function xhrError(xhr) {
      var msg = "";
      try {
        msg = JSON.parse(xhr.responseText).error.message;
      } catch (e) {
        // Not the portal's JSON (a proxy, or S3's XML).
      }
      var err = new Error(msg || "the server answered " + xhr.status);
      err.status = xhr.status;
      return err;
    }

    // complete asks the portal to check and store the file. The portal
    // checks it in the background: when that takes a while it answers
    // 202 with the upload, being verified, which is then watched until the
    // check is over. An upload open again afterwards (a part the portal
    // turns out not to have, or a check that could not finish) gets what
    // is missing and is completed again; a server that is away is waited
    // for.
    function complete(item) {
      var attempt = 0;
      var url = "/api/v1/uploads/" + encodeURIComponent(item.up.id);
      var resend = function (up) {
        item.received = up.received || [];
        item.checking = false;
        return sendMissing(item).then(once);
      };
      // settle acts on the upload as it is after a check: once more when
      // it is open again, watched while it is being checked; otherwise
      // the portal's answer to complete says the outcome.
      var settle = function (up, err) {
        if (up.state === "open") {
          attempt++;
          if (attempt >= RETRIES) {
            throw err || new Error(up.error || "The portal could not check the file.");
          }
          return resend(up);
        }
        if (up.state === "completing") {
          return watch();
        }
        if (err) {
          throw err;
        }
        return once();
      };
      var watch = function () {
        return wait(item, VERIFY_POLL).then(function () {
          return api("GET", url);
        }).then(function (up) {
          return settle(up, null);
        }, function (err) {
          if (err.paused || !retryable(err, false)) {
            throw err;
          }
          return watch();
        });
      };
      var once = function () {
        item.checking = true;
        show(item, "All " + formatBytes(item.file.size) + " sent; the portal is checking the file…");
        return api("POST", url + "/complete").then(function (ans) {
          // An artifact is never "completing": this is the upload of a
          // 202, still being checked.
          return ans.state === "completing" ? watch() : ans;
        }, function (err) {
          if (err.status === 409 || (err.status === 400 && !err.field)) {
            return api("GET", url).then(function (up) {
              return settle(up, err);
            });
          }
          attempt++;
          if (retryable(err, false) && attempt < RETRIES) {
            return wait(item, backoff(Math.min(attempt, 6))).then(once);
          }
          throw err;
        });
      };
      return once();
    }

    function done(item, artifact) {
      forget(function (r) { return r.upload === item.rec.upload; });
      item.state = "done";
      finished++;
      item.bar.value = item.bar.max;
      item.li.dataset.artifact = artifact.id;
      var secs = (Date.now() - item.began) / 1000;
      var sent = item.file.size - (item.base || 0);
      show(item, "Uploaded" + (item.resumed ? " (resumed)" : "") + ": " + formatBytes(item.file.size) +
        (sent > 0 ? ", " + formatBytes(sent) + " sent in " + formatDuration(secs) : "") + ".");
      var sha = item.li.querySelector(".upload-sha");
      sha.textContent = artifact.sha256;
      sha.id = "upload-sha-" + artifact.id;
      sha.parentNode.hidden = false;
      item.note.hidden = !item.resumed;
      announce(item.file.name + " is uploaded.");
      setButtons(item);
    }

    // progress shows the bytes the portal has or is receiving. The bar
    // moves at every event; the words, with the rate over the last
    // seconds and the time left, at most four times a second, and every
    // second while nothing moves (a stalled network shows as such).
    function progress(item) {
      var sent = item.confirmed;
      for (var k in item.inflight) {
        sent += item.inflight[k];
      }
      sent = Math.min(sent, item.file.size);
      item.bar.value = sent;
      sample(item, sent);
      var now = Date.now();
      if (now - (item.lastText || 0) >= 250) {
        render(item);
      } else if (!item.trailing) {
        item.trailing = setTimeout(function () {
          item.trailing = null;
          render(item);
        }, 250);
      }
    }

    function sample(item, sent) {
      var now = Date.now();
      item.samples.push([now, sent]);
      while (item.samples.length > 1 && now - item.samples[0][0] > 5000) {
        item.samples.shift();
      }
    }

    function tick(item) {
      sample(item, item.bar.value);
      render(item);
    }

    function render(item) {
      if (item.state !== "sending" || item.checking) {
        return;
      }
      var now = Date.now();
      item.lastText = now;
      var sent = item.bar.value;
      var text = formatBytes(sent) + " of " + formatBytes(item.file.size);
      var first = item.samples[0];
      if (first && now - first[0] >= 500) {
        var rate = (sent - first[1]) * 1000 / (now - first[0]);
        if (rate > 0) {
          text += " · " + formatBytes(rate) + "/s · about " + formatDuration((item.file.size - sent) / rate) + " left";
        } else {
          text += " · waiting for the network…";
        }
      }
      show(item, text);
    }

    // showUnfinished lists the uploads of this release that this browser
    // began and did not finish, with a way to drop them.
    function showUnfinished() {
      var box = section.querySelector(".unfinished");
      var ul = box.querySelector(".unfinished-list");
      var active = {};
      items.forEach(function (i) {
        if (i.rec && i.state !== "done") {
          active[i.rec.upload] = true;
        }
      });
      var recs = records().filter(function (r) { return r.release === release && !active[r.upload]; });
      ul.textContent = "";
      recs.forEach(function (r) {
        var li = document.createElement("li");
        li.className = "row-item";
        var text = document.createElement("span");
        text.textContent = r.name + " (" + formatBytes(r.size) + "), begun " + new Date(r.started).toLocaleString() +
          ". Pick the same file again to resume.";
        var b = document.createElement("button");
        b.type = "button";
        b.className = "small danger";
        b.textContent = "Discard";
        var hidden = document.createElement("span");
        hidden.className = "visually-hidden";
        hidden.textContent = " the upload of " + r.name;
        b.appendChild(hidden);
        b.addEventListener("click", function () {
          b.disabled = true;
          api("DELETE", "/api/v1/artifacts/" + encodeURIComponent(r.artifact)).catch(function (err) {
            if (err.status !== 404) {
              throw err;
            }
          }).then(function () {
            forget(function (x) { return x.upload === r.upload; });
            window.location.reload();
          }, function (err) {
            b.disabled = false;
            F.flash(err.message, true);
          });
        });
        li.appendChild(text);
        li.appendChild(b);
        ul.appendChild(li);
      });
      box.hidden = recs.length === 0;
    }
  }
})();
