/*! Tally embed.js: turns <div data-tally-widget="usage" data-token="…"></div> into a Tally widget in an iframe that
 * takes its content's height. Attributes: data-tally-widget (usage | bill | wallet | invoices), data-token (an embed
 * token from POST /api/v1/customers/:id/embed_token), data-theme (light | dark | auto), data-token-url (optional:
 * your own endpoint answering {"token": "…"} or {"embed": {"token": "…"}}, asked for a new token when one expires),
 * data-title (optional: the iframe's accessible name). The container receives a bubbling "tally:expired" event
 * (detail: {widget}) when its token expires. API: TallyEmbed.mount(element), TallyEmbed.refresh(element, token).
 * Documentation: docs/embedding.md. */
(function () {
  "use strict";

  if (window.TallyEmbed) {
    return; // included twice
  }

  var WIDGETS = {usage: "Usage", bill: "Current bill", wallet: "Wallet", invoices: "Invoices"};
  var THEMES = {light: true, dark: true, auto: true};
  var TOKEN = /^[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+$/;
  var MAX_HEIGHT = 10000;
  var RENEW_INTERVAL = 30000; // at most one renewal per widget in this time: a host answering stale tokens loops
  var SELECTOR = "[data-tally-widget]";

  function scriptOrigin() {
    var script = document.currentScript;
    if (!script) {
      var scripts = document.querySelectorAll("script[src*='/static/embed.js']");
      script = scripts[scripts.length - 1];
    }
    try {
      return new URL(script.src, document.baseURI).origin;
    } catch (error) {
      return null;
    }
  }

  var tallyOrigin = scriptOrigin();
  var mounts = []; // {element, iframe, token, widget, theme, renewedAt}

  function stateOf(element) {
    for (var i = 0; i < mounts.length; i += 1) {
      if (mounts[i].element === element) {
        return mounts[i];
      }
    }
    return null;
  }

  function widgetUrl(state) {
    return tallyOrigin + "/embed/" + encodeURIComponent(state.token) + "/" + state.widget +
      "?parent=" + encodeURIComponent(window.location.origin) + "&theme=" + state.theme;
  }

  function read(element) {
    var widget = element.getAttribute("data-tally-widget");
    var token = (element.getAttribute("data-token") || "").trim();
    var theme = element.getAttribute("data-theme") || "auto";
    if (!Object.prototype.hasOwnProperty.call(WIDGETS, widget) || !TOKEN.test(token)) {
      return null;
    }
    return {widget: widget, token: token, theme: THEMES[theme] ? theme : "auto"};
  }

  function load(state) {
    var iframe = state.iframe;
    iframe.title = state.element.getAttribute("data-title") || WIDGETS[state.widget];
    iframe.src = widgetUrl(state);
  }

  function mount(element) {
    if (!tallyOrigin || !element || !element.getAttribute) {
      return null;
    }
    var wanted = read(element);
    var state = stateOf(element);
    if (!wanted) {
      return state;
    }
    if (state) {
      if (state.token !== wanted.token || state.theme !== wanted.theme || state.widget !== wanted.widget) {
        state.token = wanted.token;
        state.theme = wanted.theme;
        state.widget = wanted.widget;
        state.expired = false;
        load(state);
      }
      return state;
    }
    var iframe = document.createElement("iframe");
    iframe.setAttribute("loading", "lazy");
    iframe.setAttribute("scrolling", "no");
    // The widget may open a pay page or a PDF in a new tab; it may not navigate the host page.
    iframe.setAttribute("sandbox", "allow-scripts allow-same-origin allow-forms allow-popups " +
      "allow-popups-to-escape-sandbox allow-downloads");
    iframe.style.display = "block";
    iframe.style.width = "100%";
    iframe.style.border = "0";
    iframe.style.height = "150px"; // until the widget says its height
    state = {element: element, iframe: iframe, token: wanted.token, widget: wanted.widget, theme: wanted.theme,
             expired: false, renewedAt: 0};
    mounts.push(state);
    load(state);
    element.appendChild(iframe);
    return state;
  }

  function refresh(element, token) {
    if (typeof token === "string" && TOKEN.test(token.trim())) {
      element.setAttribute("data-token", token.trim());
    }
    return mount(element);
  }

  function tokenOf(answer) {
    if (!answer || typeof answer !== "object") {
      return null;
    }
    var token = typeof answer.token === "string" ? answer.token
      : (answer.embed && typeof answer.embed.token === "string" ? answer.embed.token : null);
    return token && TOKEN.test(token) ? token : null;
  }

  function renew(state) {
    var url = state.element.getAttribute("data-token-url");
    var now = Date.now();
    if (!url || now - state.renewedAt < RENEW_INTERVAL || typeof window.fetch !== "function") {
      return;
    }
    state.renewedAt = now;
    window.fetch(url, {credentials: "same-origin", cache: "no-store", headers: {"Accept": "application/json"}})
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (answer) {
        var token = tokenOf(answer);
        if (token && token !== state.token) {
          refresh(state.element, token);
        }
      })
      .catch(function () { /* the expired view stays; the host may call TallyEmbed.refresh itself */ });
  }

  function onMessage(event) {
    if (event.origin !== tallyOrigin) {
      return;
    }
    var state = null;
    for (var i = 0; i < mounts.length; i += 1) {
      if (mounts[i].iframe.contentWindow === event.source) {
        state = mounts[i];
        break;
      }
    }
    var data = event.data;
    if (!state || !data || typeof data !== "object" || data.source !== "tally-widget") {
      return;
    }
    if (data.type === "resize") {
      var height = data.height;
      if (typeof height === "number" && isFinite(height)) {
        height = Math.min(Math.max(Math.round(height), 0), MAX_HEIGHT);
        state.iframe.style.height = height + "px";
      }
    } else if (data.type === "expired" && !state.expired) {
      state.expired = true;
      state.element.dispatchEvent(new CustomEvent("tally:expired", {bubbles: true, detail: {widget: state.widget}}));
      renew(state);
    }
  }

  function scan(root) {
    if (root.nodeType !== 1) {
      return;
    }
    if (root.matches(SELECTOR)) {
      mount(root);
    }
    root.querySelectorAll(SELECTOR).forEach(mount);
  }

  function start() {
    scan(document.documentElement);
    new MutationObserver(function (records) {
      records.forEach(function (record) {
        if (record.type === "attributes") {
          if (record.target.matches(SELECTOR)) {
            mount(record.target);
          }
        } else {
          record.addedNodes.forEach(scan);
        }
      });
    }).observe(document.documentElement, {childList: true, subtree: true, attributes: true,
                                          attributeFilter: ["data-tally-widget", "data-token", "data-theme"]});
  }

  window.addEventListener("message", onMessage);
  window.TallyEmbed = {mount: mount, refresh: refresh, origin: tallyOrigin};
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
