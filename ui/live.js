// Live updates of the console (docs/console.md), read with the browser's EventSource from the
// two streams of src/http/ui/live.rs. The page works without this script: a reload shows the
// truth. With it, status badges change in place (text, class and data-status) as the watch
// reports each change; on the belt page the state section is fetched again (server-rendered,
// at most one fetch at a time, a burst of changes coalesced into one more), and an editor's
// replicas' lines are appended as they come, since the time or of the run the log options
// choose. No reload: one open stream per page, two on an editor's belt page while replicas run.
// The one thing asked for on a clock is the list's sparklines: lag samples are measured on one
// (the lag controller's interval), so the page asks for all of its sparklines at once, once per
// interval, and not at all while it is hidden.
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !window.EventSource) {
    return;
  }
  var config = script.dataset;
  var keep = parseInt(config.keep || "200", 10);
  // The newest line time seen; a reopened log stream starts there (lines at that instant are
  // sent again and recognised below).
  var since = config.since || "";
  var logs = null;
  // The log options' choice: `since` (a duration the server reads, or "" for all kept) and
  // `previous` (each replica's previous run: shown once, never followed).
  var choice = { since: "", previous: false };

  // One sentence for the reader, in a status region (announced politely).
  function say(text) {
    var notice = document.getElementById("live-notice");
    if (!notice) {
      notice = document.createElement("p");
      notice.id = "live-notice";
      notice.className = "notice";
      notice.setAttribute("role", "status");
      var main = document.querySelector("main");
      main.insertBefore(notice, main.children[1] || null);
    }
    notice.textContent = text;
  }

  function badgesOf(belt) {
    return Array.prototype.filter.call(document.querySelectorAll(".badge[data-belt]"), function (badge) {
      return badge.dataset.belt === belt;
    });
  }

  function show(badge, status) {
    badge.textContent = status;
    badge.className = "badge " + status;
    badge.dataset.status = status;
  }

  function onStatus(event) {
    var change = JSON.parse(event.data);
    if (change.status) {
      badgesOf(change.belt).forEach(function (badge) {
        show(badge, change.status);
      });
    }
    if (config.belt !== change.belt) {
      return;
    }
    if (config.version && change.version > parseInt(config.version, 10)) {
      say("This belt changed since the page was loaded (it is now at version " + change.version +
        "): reload to see it before you act on it.");
    }
    refreshState();
    if (change.status && change.status !== "STOPPED") {
      followLogs();
    }
  }

  // The state section, fetched again: one fetch at a time; changes that come meanwhile ask for
  // one more after it, which sees them all.
  var stateBusy = false;
  var stateAgain = false;
  function refreshState() {
    if (!config.state) {
      return;
    }
    if (stateBusy) {
      stateAgain = true;
      return;
    }
    stateBusy = true;
    stateAgain = false;
    fetch(config.state, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        // A spent session is sent to sign in: that page is no state section.
        return response.ok && !response.redirected ? response.text() : null;
      })
      .then(function (text) {
        var section = document.getElementById("state-section");
        if (section && text && text.indexOf("<section id=\"state-section\"") === 0) {
          // Never shorter than it was while the page is shown: what follows does not move up
          // when a sentence goes (it moves down only when there is more to say).
          var was = section.getBoundingClientRect().height;
          section.outerHTML = text;
          document.getElementById("state-section").style.minHeight = was + "px";
        }
      })
      .catch(function () {})
      .then(function () {
        stateBusy = false;
        if (stateAgain) {
          refreshState();
        }
      });
  }

  var statuses = null;
  // The id of the last status event (or bookmark): a reopened stream resumes after it.
  var lastId = "";
  // The session's token expired: the stream it opened ends, and the session (renewed, or still
  // valid) opens the next one.
  var RENEW = "token expired";

  function remember(event) {
    if (event.lastEventId) {
      lastId = event.lastEventId;
    }
  }

  function watchStatuses() {
    var url = config.events;
    if (lastId) {
      url += (url.indexOf("?") < 0 ? "?" : "&") + "after=" + encodeURIComponent(lastId);
    }
    statuses = new EventSource(url);
    statuses.addEventListener("bookmark", remember);
    statuses.addEventListener("status", function (event) {
      remember(event);
      onStatus(event);
    });
    statuses.addEventListener("resync", function () {
      statuses.close();
      say("Live updates stopped: this page fell behind. Reload it to see the latest.");
    });
    statuses.addEventListener("end", function (event) {
      statuses.close();
      if (event.data === RENEW) {
        // A second's pause: a session whose token is spent before it ends cannot spin.
        setTimeout(watchStatuses, 1000);
        return;
      }
      say("Live updates ended (" + event.data + "). Reload the page to see the latest.");
    });
    statuses.onerror = function () {
      // While CONNECTING the browser retries by itself, resuming after the last event id.
      if (statuses.readyState === EventSource.CLOSED) {
        say("Live updates stopped. Reload the page to see the latest.");
      }
    };
  }

  // The replica's <pre>, made (under its own heading) when its first line comes.
  function preOf(pod) {
    var section = document.getElementById("log-replicas");
    var pres = section.querySelectorAll("pre.log[data-replica]");
    for (var i = 0; i < pres.length; i++) {
      if (pres[i].dataset.replica === pod) {
        return pres[i];
      }
    }
    // "No replica yet" or "stopped": no longer true.
    Array.prototype.forEach.call(section.querySelectorAll("p"), function (p) {
      p.remove();
    });
    var heading = document.createElement("h3");
    heading.textContent = pod;
    var pre = document.createElement("pre");
    pre.className = "log";
    // Focusable, as the page's own: a scrolling region must be reachable by keyboard.
    pre.tabIndex = 0;
    pre.dataset.replica = pod;
    section.appendChild(heading);
    section.appendChild(pre);
    return pre;
  }

  // One text node per line, so old lines can be dropped one by one; each but the first starts
  // with its line break (a break at the end would show as an empty last line).
  function linesOf(pre) {
    if (!pre.dataset.live) {
      var text = pre.textContent;
      pre.textContent = "";
      if (text) {
        text.split("\n").forEach(function (line, i) {
          pre.appendChild(document.createTextNode((i ? "\n" : "") + line));
        });
      }
      pre.dataset.live = "1";
    }
    return pre.childNodes;
  }

  function append(line) {
    var text = line.time ? line.time + " " + line.line : line.line;
    var pre = preOf(line.pod);
    var lines = linesOf(pre);
    for (var i = lines.length - 1; i >= 0; i--) {
      if (lines[i].nodeValue.replace(/^\n/, "") === text) {
        return;
      }
    }
    var atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.appendChild(document.createTextNode((lines.length ? "\n" : "") + text));
    while (lines.length > keep) {
      pre.removeChild(pre.firstChild);
      pre.firstChild.nodeValue = pre.firstChild.nodeValue.replace(/^\n/, "");
    }
    if (atBottom) {
      pre.scrollTop = pre.scrollHeight;
    }
    if (line.time && (!since || Date.parse(line.time) > Date.parse(since))) {
      since = line.time;
    }
  }

  // `again`: the reader changed the options, so even the previous run is read again.
  function followLogs(again) {
    if (!config.logs || logs || (choice.previous && !again)) {
      return;
    }
    var params = [];
    var from = since || choice.since;
    if (from) {
      params.push("since=" + encodeURIComponent(from));
    }
    if (choice.previous) {
      params.push("previous=true");
    }
    var url = config.logs + (params.length ? "?" + params.join("&") : "");
    logs = new EventSource(url);
    logs.addEventListener("line", function (event) {
      append(JSON.parse(event.data));
    });
    // The belt stopped, or the session ended: the next START opens the stream again.
    logs.addEventListener("end", function (event) {
      logs.close();
      logs = null;
      if (event.data === RENEW) {
        setTimeout(followLogs, 1000);
      } else if (!document.getElementById("log-replicas").firstChild) {
        // Options that select nothing say so rather than leave the section blank.
        var none = document.createElement("p");
        none.textContent = choice.previous ? "No replica has a previous run." : "No line.";
        document.getElementById("log-replicas").appendChild(none);
      }
    });
    logs.onerror = function () {
      if (logs && logs.readyState === EventSource.CLOSED) {
        logs = null;
      }
    };
  }

  // The options read from their form; a change starts the log stream again with them, on an
  // empty section (no reload: the page's form would navigate without this script).
  function watchOptions() {
    var form = document.getElementById("log-options");
    if (!form || !config.logs) {
      return;
    }
    var read = function () {
      choice.since = form.elements.since.value;
      choice.previous = form.elements.previous.checked;
    };
    var restart = function (event) {
      if (event.type === "submit") {
        event.preventDefault();
      }
      read();
      if (logs) {
        logs.close();
        logs = null;
      }
      since = "";
      document.getElementById("log-replicas").textContent = "";
      followLogs(true);
    };
    read();
    form.addEventListener("change", restart);
    form.addEventListener("submit", restart);
  }

  // The list's sparklines, asked for again once per lag interval (data-sparks-every) while the
  // page is shown: samples come no oftener. One request for the whole page, with the page's own
  // query so that it answers for the same belts; none while the tab is hidden, and a tab shown
  // again asks at once if its turn passed meanwhile. At most one request is in flight.
  var sparks = { timer: null, asked: 0, busy: false };
  function followSparklines() {
    if (!config.sparks) {
      return;
    }
    var every = Math.max(parseInt(config.sparksEvery, 10) || 30000, 1000);
    // The page's own sparklines were drawn when it was loaded.
    sparks.asked = Date.now();
    document.addEventListener("visibilitychange", scheduleSparklines);
    scheduleSparklines();

    function scheduleSparklines() {
      clearTimeout(sparks.timer);
      sparks.timer = null;
      if (document.hidden || sparks.busy) {
        return;
      }
      sparks.timer = setTimeout(askSparklines, Math.max(0, sparks.asked + every - Date.now()));
    }

    function askSparklines() {
      sparks.timer = null;
      if (document.hidden || sparks.busy) {
        return;
      }
      sparks.busy = true;
      sparks.asked = Date.now();
      fetch(config.sparks + location.search, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (response) {
          // A spent session is sent to sign in: that page has no sparklines.
          return response.ok && !response.redirected ? response.text() : null;
        })
        .then(function (text) {
          if (text) {
            putSparklines(text);
          }
        })
        .catch(function () {})
        .then(function () {
          sparks.busy = false;
          scheduleSparklines();
        });
    }
  }

  // Each sparkline of the answer takes the place of the one with its id (belt and kind); the
  // page's belts that the answer no longer has keep theirs. Same size, so nothing moves.
  function putSparklines(text) {
    var answer = document.createElement("template");
    answer.innerHTML = text;
    Array.prototype.forEach.call(answer.content.querySelectorAll(".spark[id]"), function (fresh) {
      var shown = document.getElementById(fresh.id);
      if (shown && shown.classList.contains("spark")) {
        shown.replaceWith(fresh);
      }
    });
  }

  function start() {
    followSparklines();
    watchOptions();
    watchStatuses();
    var shown = config.belt && badgesOf(config.belt)[0];
    if (shown && shown.dataset.status !== "STOPPED") {
      followLogs();
    }
  }

  // Leaving the page closes its streams: a page kept in the back/forward cache would otherwise
  // hold its connections, and a browser allows a host only six.
  window.addEventListener("pagehide", function () {
    clearTimeout(sparks.timer);
    sparks.timer = null;
    if (statuses) {
      statuses.close();
    }
    if (logs) {
      logs.close();
      logs = null;
    }
  });
  // Back to a page from that cache: what it shows is old, so it is loaded again.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) {
      location.reload();
    }
  });

  start();
})();
