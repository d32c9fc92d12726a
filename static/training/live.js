// Refresh the training run pages while a run is queued or running (no inline script: CSP).
(function () {
  "use strict";
  function active() {
    if (document.querySelector('[data-training-active="1"]')) { return true; }
    var status = document.querySelector(".field-status .readonly");
    return !!status && /Queued|Running/.test(status.textContent);
  }
  if (active()) {
    window.setTimeout(function () { window.location.reload(); }, 5000);
  }
})();
