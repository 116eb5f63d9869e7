// The "Why?" panel of a recommendation (issue 17): it closes (its button, Esc) and opens again
// as it was left (the slider's value, the open disclosures), since closing only hides it.
// Without JavaScript "Why?" is a link to the explanation's own page.
(function () {
  "use strict";

  function buttonFor(panel) {
    var slot = panel.parentElement;
    return slot && slot.id ? document.querySelector('[aria-controls="' + slot.id + '"]') : null;
  }

  var lastOpened = null;

  function show(panel) {
    panel.hidden = false;
    var button = buttonFor(panel);
    if (button) button.setAttribute("aria-expanded", "true");
    lastOpened = panel;
    panel.focus();
  }

  function hide(panel) {
    panel.hidden = true;
    var button = buttonFor(panel);
    if (button) {
      button.setAttribute("aria-expanded", "false");
      button.focus();
    }
    if (lastOpened === panel) lastOpened = null;
  }

  // A panel already loaded is shown or hidden here, before htmx (listening on the button)
  // would fetch a fresh one and lose its state.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest(".why-button[aria-controls]");
    if (button) {
      var slot = document.getElementById(button.getAttribute("aria-controls"));
      var panel = slot && slot.querySelector(".why");
      if (!panel) return;  // the first click: htmx loads it
      event.preventDefault();
      event.stopPropagation();
      if (panel.hidden) show(panel); else hide(panel);
      return;
    }
    var close = event.target.closest && event.target.closest(".why-close");
    if (close) hide(close.closest(".why"));
  }, true);

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var active = document.activeElement;
    var panel = (active && active.closest && active.closest(".why")) || lastOpened;
    if (panel && !panel.hidden && panel.querySelector(".why-close")) {
      event.preventDefault();
      hide(panel);
    }
  });

  // Every "Why?" says whether its panel is open, from the start (and on cards added later).
  document.addEventListener("htmx:load", function (event) {
    var root = event.detail.elt;
    if (!root || !root.querySelectorAll) return;
    Array.prototype.forEach.call(
      root.querySelectorAll(".why-button[aria-controls]:not([aria-expanded])"),
      function (button) { button.setAttribute("aria-expanded", "false"); });
  });

  // A rating saved or removed anywhere on the page changes what a panel explains: a closed
  // panel is dropped (the next "Why?" loads it afresh), an open one reloads its body at its k.
  // (On htmx:beforeSwap: the widget is still in the page, so the event reaches the document.)
  document.addEventListener("htmx:beforeSwap", function (event) {
    var elt = event.detail.elt;
    if (event.detail.xhr.status !== 200 || !elt || !elt.closest) return;
    if (!elt.closest(".rating-widget")) return;
    Array.prototype.forEach.call(document.querySelectorAll(".why-slot .why"), function (panel) {
      if (panel.hidden) {
        panel.remove();
        return;
      }
      var slider = panel.querySelector(".why-explore input[type=range]");
      var body = panel.querySelector(".why-body");
      if (slider && body && window.htmx) {
        var url = slider.getAttribute("hx-get") + "&k=" + encodeURIComponent(slider.value);
        window.htmx.ajax("GET", url, {target: body, swap: "innerHTML"});
      }
    });
  });

  // The k slider re-renders the panel's body: keep the body's disclosures as they were.
  var openBefore = {};
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (!target || !target.classList.contains("why-body")) return;
    openBefore[target.id] = Array.prototype.map.call(
      target.querySelectorAll("details[open]"), function (d) { return d.className; });
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (!target) return;
    if (target.classList.contains("why-body")) {
      (openBefore[target.id] || []).forEach(function (name) {
        var details = target.querySelector("details." + name.split(" ").join("."));
        if (details) details.open = true;
      });
      return;
    }
    if (target.classList.contains("why-slot")) {
      var panel = target.querySelector(".why");
      if (panel) show(panel);
    }
  });
})();
