// The copy button beside a new key's secret.
document.addEventListener("click", function (event) {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const field = document.getElementById(button.dataset.copy);
  const said = document.querySelector('[data-copied="' + button.dataset.copy + '"]');
  navigator.clipboard.writeText(field.value).then(
    function () { if (said) said.textContent = "Copied."; },
    function () { field.select(); if (said) said.textContent = "Select and copy with Ctrl+C."; });
});
