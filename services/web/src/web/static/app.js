// Microblog's own small script. Every page works without it; with it: live updates (new posts,
// the unread badge), favourites and translations in place, "load more" without leaving the page,
// the character counter, relative times that stay current, and the writer's time zone.
(function () {
  "use strict";

  var body = document.body;
  var texts = {};
  try { texts = JSON.parse(body.getAttribute("data-i18n") || "{}"); } catch (e) { texts = {}; }
  var locale = body.getAttribute("data-locale") || "en";

  function say(key, count) {
    var forms = texts[key] || {};
    var rule = new Intl.PluralRules(locale).select(count);
    var text = forms[rule] || forms.other || "";
    return text.replace("%(num)s", new Intl.NumberFormat(locale).format(count));
  }

  function fetchPiece(url, options) {
    options = options || {};
    options.headers = Object.assign({ "X-Requested-With": "fetch" }, options.headers || {});
    options.credentials = "same-origin";
    return fetch(url, options);
  }

  // -- the writer's time zone: scheduled posts are written in it, times are shown in it -------
  var zone = "";
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { zone = ""; }
  if (zone) {
    document.cookie = "microblog_tz=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; samesite=lax";
    document.querySelectorAll(".time-zone-field").forEach(function (field) { field.value = zone; });
    document.querySelectorAll(".time-zone-name").forEach(function (span) { span.textContent = zone; });
  }

  // -- character counter: as the API counts (graphemes, a link counts 23, the warning too) ---
  var URL_PATTERN = /https?:\/\/[^\s<>"]+/g;
  var segmenter = typeof Intl.Segmenter === "function" ? new Intl.Segmenter(locale, { granularity: "grapheme" }) : null;

  function length(text) {
    var links = 0;
    var rest = text.replace(URL_PATTERN, function () { links += 1; return ""; });
    var count = 0;
    if (segmenter) {
      for (var _ of segmenter.segment(rest)) { count += 1; }
    } else {
      count = Array.from(rest).length;
    }
    return count + links * 23;
  }

  document.querySelectorAll("textarea[data-counter]").forEach(function (area) {
    var counter = document.getElementById(area.getAttribute("data-counter"));
    if (!counter) { return; }
    var max = parseInt(counter.getAttribute("data-max") || body.getAttribute("data-max-characters") || "500", 10);
    var warning = area.form ? area.form.querySelector(".compose-cw") : null;
    function update() {
      var used = length(area.value) + (warning ? length(warning.value) : 0);
      var left = max - used;
      counter.textContent = left >= 0 ? say("characters_left", left) : say("characters_over", -left);
      counter.classList.toggle("over", left < 0);
    }
    area.addEventListener("input", update);
    if (warning) { warning.addEventListener("input", update); }
    update();
  });

  // -- relative times -------------------------------------------------------------------------
  var relative = typeof Intl.RelativeTimeFormat === "function" ? new Intl.RelativeTimeFormat(locale, { numeric: "auto" }) : null;
  var UNITS = [["year", 31536000], ["month", 2592000], ["week", 604800], ["day", 86400], ["hour", 3600], ["minute", 60]];

  function refreshTimes() {
    if (!relative) { return; }
    var now = Date.now();
    document.querySelectorAll("time[data-relative]").forEach(function (node) {
      var when = Date.parse(node.getAttribute("datetime"));
      if (isNaN(when)) { return; }
      var seconds = Math.round((when - now) / 1000);
      if (Math.abs(seconds) < 45) { node.textContent = texts.just_now || node.textContent; return; }
      for (var i = 0; i < UNITS.length; i++) {
        if (Math.abs(seconds) >= UNITS[i][1] * 0.9 || UNITS[i][0] === "minute") {
          node.textContent = relative.format(Math.round(seconds / UNITS[i][1]), UNITS[i][0]);
          return;
        }
      }
    });
  }
  setInterval(refreshTimes, 60000);

  // -- "load more": the next page of the same list, appended --------------------------------
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a.load-more");
    if (!link) { return; }
    var list = document.getElementById(link.getAttribute("data-target"));
    if (!list) { return; }
    event.preventDefault();
    link.setAttribute("aria-busy", "true");
    fetchPiece(link.href).then(function (response) {
      if (!response.ok) { throw new Error(String(response.status)); }
      return response.text();
    }).then(function (html) {
      var item = link.closest("li.load-more-item") || link.parentNode;
      var first = list.children.length;
      item.remove();
      list.insertAdjacentHTML("beforeend", html);
      var added = list.children[first];
      var focusable = added && added.querySelector("a.status-time, a");
      if (focusable) { focusable.focus(); }
      bindForms(list);
    }).catch(function () { window.location.href = link.href; });
  });

  // -- favourites, translations, confirmations in place -------------------------------------
  function bindForms(root) {
    root.querySelectorAll("form.favourite-form:not([data-bound])").forEach(function (form) {
      form.setAttribute("data-bound", "true");
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        var button = form.querySelector("button");
        fetchPiece(form.action, { method: "POST", body: new FormData(form), headers: { Accept: "application/json" } })
          .then(function (response) {
            if (!response.ok) { throw new Error(String(response.status)); }
            return response.json();
          })
          .then(function (state) {
            var on = !!state.favourited;
            form.action = form.action.replace(/\/(un)?favourite$/, on ? "/unfavourite" : "/favourite");
            form.setAttribute("data-favourited", on ? "true" : "false");
            button.classList.toggle("active", on);
            button.setAttribute("aria-pressed", on ? "true" : "false");
            var count = form.querySelector(".favourites-count");
            if (count) { count.textContent = new Intl.NumberFormat(locale).format(state.favourites_count || 0); }
          })
          .catch(function () { form.submit(); });
      });
    });
    root.querySelectorAll("form.translate-form:not([data-bound])").forEach(function (form) {
      form.setAttribute("data-bound", "true");
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        var slot = document.getElementById(form.getAttribute("data-target"));
        var button = form.querySelector("button");
        button.disabled = true;
        fetchPiece(form.action, { method: "POST", body: new FormData(form) })
          .then(function (response) { return response.text(); })
          .then(function (html) { if (slot) { slot.innerHTML = html; } })
          .catch(function () { form.submit(); })
          .finally(function () { button.disabled = false; });
      });
    });
    root.querySelectorAll("form[data-confirm]:not([data-bound])").forEach(function (form) {
      form.setAttribute("data-bound", "true");
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
      });
    });
  }
  bindForms(document);

  // -- live updates -----------------------------------------------------------------------------
  if (body.getAttribute("data-signed-in") !== "true" || typeof EventSource !== "function") { return; }

  var timeline = body.getAttribute("data-timeline") || "";
  var badge = document.getElementById("unread-badge");
  var newPosts = document.getElementById("new-posts");
  var newPostsButton = document.getElementById("new-posts-button");
  var announcer = document.getElementById("new-posts-announcer");
  var newNotifications = document.getElementById("new-notifications");
  var newNotificationsLink = document.getElementById("new-notifications-link");
  var waiting = {};
  var waitingCount = 0;
  var notificationsWaiting = 0;

  function setBadge(count) {
    if (!badge || count === null || count === undefined) { return; }
    badge.setAttribute("data-count", String(count));
    badge.querySelector(".badge-count").textContent = new Intl.NumberFormat(locale).format(count);
    badge.hidden = count <= 0;
  }

  function onUpdate(data) {
    if (!newPosts || data.timeline !== timeline || !data.id) { return; }
    if (document.getElementById("status-" + data.id) || waiting[data.id]) { return; }
    waiting[data.id] = true;
    waitingCount += 1;
    newPostsButton.textContent = say("new_posts", waitingCount);
    newPosts.hidden = false;
    if (announcer) { announcer.textContent = newPostsButton.textContent; }
  }

  if (newPostsButton) {
    newPostsButton.addEventListener("click", function () {
      var list = document.getElementById("status-list");
      fetchPiece(window.location.pathname).then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.text();
      }).then(function (html) {
        list.innerHTML = html;
        bindForms(list);
        waiting = {};
        waitingCount = 0;
        newPosts.hidden = true;
        var first = list.querySelector("a.status-time");
        if (first) { first.focus(); }
      }).catch(function () { window.location.reload(); });
    });
  }

  function onNotification() {
    var current = parseInt((badge && badge.getAttribute("data-count")) || "0", 10) || 0;
    setBadge(current + 1);
    if (newNotifications && newNotificationsLink) {
      notificationsWaiting += 1;
      newNotificationsLink.textContent = say("new_notifications", notificationsWaiting);
      newNotifications.hidden = false;
    }
  }

  function onDelete(data) {
    var node = document.getElementById("status-" + data.id);
    if (node) {
      var item = node.closest("li") || node;
      item.remove();
    }
  }

  var source = null;
  var retryTimer = null;

  function connect() {
    source = new EventSource("/stream" + (timeline === "public" ? "?timeline=public" : ""));
    source.addEventListener("update", function (event) { onUpdate(JSON.parse(event.data)); });
    source.addEventListener("notification", function () { onNotification(); });
    source.addEventListener("delete", function (event) { onDelete(JSON.parse(event.data)); });
    source.addEventListener("open", function () { body.setAttribute("data-live", "true"); });
    source.addEventListener("error", function () {
      body.setAttribute("data-live", "false");
      if (source.readyState === EventSource.CLOSED && !retryTimer) {
        // Refused (signed out, or live updates unavailable): try again later, quietly.
        retryTimer = setTimeout(function () {
          retryTimer = null;
          fetchPiece("/notifications/unread", { headers: { Accept: "application/json" } })
            .then(function (response) { return response.json(); })
            .then(function (state) { setBadge(state.count); })
            .catch(function () {});
          connect();
        }, 30000);
      }
    });
  }
  connect();
  window.addEventListener("pagehide", function () { if (source) { source.close(); } });
})();
