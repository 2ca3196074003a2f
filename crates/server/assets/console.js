// countersign console: the one small script (the CSP forbids inline script).
// Copy buttons put a full digest on the clipboard; everything else works without it.
document.addEventListener("click", function (e) {
  var b = e.target.closest("button[data-copy]");
  if (!b || !navigator.clipboard) return;
  navigator.clipboard.writeText(b.getAttribute("data-copy")).then(function () {
    var was = b.textContent;
    b.textContent = "copied";
    setTimeout(function () { b.textContent = was; }, 1200);
  });
});
