// Small enhancements on top of server-rendered pages; every page also works without them.
(function () {
  "use strict";

  function widgetOf(event) {
    var elt = event.detail && event.detail.elt;
    return elt && elt.closest ? elt.closest(".rating-widget") : null;
  }

  function showError(widget, text) {
    var message = widget && widget.querySelector(".message");
    if (!message) return;
    message.textContent = text;
    message.classList.add("error");
    message.setAttribute("role", "alert");
  }

  // A save htmx could not swap in (network down, session over, server error) must not fail
  // silently: say so in the widget. 422 answers carry their own message and are swapped in.
  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr.status;
    var text = status === 401 ? "Your session has ended: sign in again to save ratings."
      : status === 400 ? "Could not save: reload the page and try again."
      : "Could not save (error " + status + "). Please try again.";
    showError(widgetOf(event), text);
  });
  document.addEventListener("htmx:sendError", function (event) {
    showError(widgetOf(event), "Could not reach the server: your rating was not saved.");
  });

  // The k slider's number follows the thumb at once; the panel follows when htmx answers.
  document.addEventListener("input", function (event) {
    var target = event.target;
    if (target.matches && target.matches("input[type=range][data-output]")) {
      var output = document.getElementById(target.dataset.output);
      if (output) output.textContent = target.value;
    }
  });

  // Admin import (issue 17): a file over MAX_UPLOAD_MB is refused before it is uploaded,
  // with the server's own message (data-too-large) on the field.
  document.addEventListener("change", function (event) {
    var input = event.target;
    if (!input.matches || !input.matches("input[type=file][data-max-bytes]")) return;
    var file = input.files && input.files[0];
    var tooLarge = !!file && file.size > Number(input.getAttribute("data-max-bytes"));
    var message = tooLarge ? input.getAttribute("data-too-large") : "";
    input.setCustomValidity(message);
    input.setAttribute("aria-invalid", tooLarge ? "true" : "false");
    var error = document.getElementById("file-error");
    if (error) {
      error.textContent = message;
      error.hidden = !tooLarge;
    }
  });

  // Uploads can take a while: disable the button and say so.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute("data-busy-message")) return;
    var button = form.querySelector("button[type=submit]");
    var note = form.querySelector(".working");
    if (button) button.disabled = true;
    if (note) note.hidden = false;
  });

  // --- Lists (issue 17): a "Not interested" / "Watch later" click htmx could not complete
  // says so on its card, like the rating widget (422 answers carry their own message). ---
  function listActionsOf(event) {
    var elt = event.detail && event.detail.elt;
    return elt && elt.closest ? elt.closest(".list-actions") : null;
  }
  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr.status;
    showError(listActionsOf(event), status === 401 ? "Your session has ended: sign in again."
      : status === 404 ? "This film is no longer in the catalogue."
      : "Could not change your list (error " + status + "). Please try again.");
  });
  document.addEventListener("htmx:sendError", function (event) {
    showError(listActionsOf(event), "Could not reach the server: your list was not changed.");
  });

  document.documentElement.classList.add("js");
})();
