// The settings pages' only style and script, sent inline with the page under a per-response CSP
// nonce: no external assets, no build step. Mobile first; readable from 320 px.

export const STYLE = `
*,*::before,*::after{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;font:1rem/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1f24;background:#f6f7f9}
a{color:#0b57d0}
a:focus-visible,button:focus-visible,input:focus-visible,select:focus-visible,textarea:focus-visible,summary:focus-visible,[tabindex]:focus-visible{outline:3px solid #b35c00;outline-offset:2px}
header :focus-visible,.skip:focus-visible{outline-color:#f5a623}
.skip{position:absolute;left:-999px}
.skip:focus{left:.5rem;top:.5rem;background:#fff;padding:.5rem;z-index:1}
.vh{position:absolute;width:1px;height:1px;margin:-1px;padding:0;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap;border:0}
header{background:#123a5e;color:#fff;padding:.75rem 1rem}
header .bar{max-width:48rem;margin:0 auto;display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;justify-content:space-between}
header .brand{font-weight:600}
header form{margin:0;display:flex;flex-wrap:wrap;gap:.5rem;align-items:center}
header .who{overflow-wrap:anywhere}
header button{background:transparent;color:#fff;border:1px solid #fff}
nav{background:#fff;border-bottom:1px solid #d0d7de}
nav ul{max-width:48rem;margin:0 auto;padding:0 .5rem;list-style:none;display:flex;flex-wrap:wrap}
nav a{display:block;padding:.6rem .5rem;text-decoration:none;color:#1b1f24}
nav a[aria-current=page]{font-weight:600;border-bottom:3px solid #123a5e}
main{max-width:48rem;margin:0 auto;padding:1rem}
h1{font-size:1.5rem;margin:.5rem 0 1rem}
h2{font-size:1.2rem;margin:1.5rem 0 .5rem}
h3{font-size:1.05rem;margin:0 0 .5rem}
.card{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:1rem;margin:0 0 1rem;overflow-wrap:anywhere}
.card>:first-child{margin-top:0}
.card>:last-child{margin-bottom:0}
label{display:block;font-weight:600;margin:.75rem 0 .25rem}
.check label,.choice label{display:inline;font-weight:400;margin:0}
.check,.choice{display:flex;gap:.5rem;align-items:flex-start;margin:.6rem 0}
.check input,.choice input{margin-top:.3rem;flex:none;width:1.1rem;height:1.1rem}
input[type=text],input[type=url],input[type=password],input[type=date],select,textarea{width:100%;font:inherit;padding:.5rem;border:1px solid #8c959f;border-radius:6px;background:#fff}
textarea{min-height:5rem}
fieldset{border:1px solid #d0d7de;border-radius:6px;margin:1rem 0;padding:.5rem .75rem}
legend{font-weight:600;padding:0 .25rem}
.hint{color:#57606a;font-size:.9rem;margin:.25rem 0}
button,.button{display:inline-block;font:inherit;font-weight:600;padding:.55rem 1rem;border-radius:6px;border:1px solid #123a5e;background:#123a5e;color:#fff;cursor:pointer;text-decoration:none;text-align:center;margin:.25rem .25rem .25rem 0}
.button.secondary,button.secondary{background:#fff;color:#123a5e}
button.danger{background:#b42318;border-color:#b42318}
.actions{display:flex;flex-wrap:wrap;gap:.25rem;margin-top:.75rem}
.notice{border-left:5px solid #1a7f37;background:#eefbf1}
.problem{border-left:5px solid #b42318;background:#fff1f0}
.warning{border-left:5px solid #bf8700;background:#fff8e5}
.secret{border:2px solid #123a5e}
.badge{display:inline-block;font-size:.85rem;font-weight:600;padding:.1rem .5rem;border-radius:999px;background:#eaeef2}
.badge.ok{background:#dafbe1;color:#116329}
.badge.bad{background:#ffebe9;color:#a40e26}
dl.facts{display:grid;grid-template-columns:11rem 1fr;gap:.25rem .75rem;margin:.5rem 0}
dl.facts dt{font-weight:600}
dl.facts dd{margin:0}
ol.steps,ul.plain{padding-left:1.25rem}
.cards{list-style:none;padding:0;margin:0}
h4{margin:.75rem 0 0}
.copy-row{display:flex;flex-wrap:wrap;gap:.25rem;align-items:center}
.copy-row input{flex:1 1 12rem;font-family:ui-monospace,monospace;font-size:.9rem}
[aria-invalid=true]{border:2px solid #b42318}
details{margin:.5rem 0}
summary{cursor:pointer;color:#0b57d0;font-weight:600}
details.reveal p{margin:.25rem 0;font-weight:600}
details.correct{border-top:1px solid #d0d7de;padding-top:.5rem}
.error-text{color:#a40e26;font-weight:600;margin:.25rem 0}
@media (max-width:400px){main{padding:.75rem .5rem}.card{padding:.75rem}dl.facts{grid-template-columns:1fr}}
`;

// Progressive enhancement only; every page works without it. No inline handlers (CSP).
export const SCRIPT = `
(function () {
  // After a refused post, the error summary takes focus so it is read first (WCAG 3.3.1).
  var summary = document.querySelector("[data-error-summary]");
  if (summary) summary.focus();
  function copy(input, status) {
    input.focus();
    input.select();
    var done = function () { if (status) status.textContent = "Copied."; };
    var manual = function () { if (status) status.textContent = "Press Ctrl+C (or Cmd+C) to copy."; };
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(input.value).then(done, manual);
    else manual();
  }
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var input = document.getElementById(button.getAttribute("data-copy"));
    var status = document.getElementById(button.getAttribute("data-status"));
    if (!input) return;
    button.hidden = false;
    button.addEventListener("click", function () { copy(input, status); });
  });
  // Google's add-by-URL page needs the address pasted: copy it on the way there.
  document.querySelectorAll("a[data-copy-first]").forEach(function (link) {
    var input = document.getElementById(link.getAttribute("data-copy-first"));
    var status = document.getElementById(link.getAttribute("data-status"));
    if (input) link.addEventListener("click", function () { copy(input, status); });
  });
})();
`;

/** The favicon, served at /favicon.ico: a calendar page in the header's colours. */
export const FAVICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect x="3" y="5" width="26" height="24" rx="4" fill="#123a5e"/><rect x="6" y="12" width="20" height="14" rx="2" fill="#fff"/><rect x="9" y="2" width="3" height="7" rx="1.5" fill="#f5a623"/><rect x="20" y="2" width="3" height="7" rx="1.5" fill="#f5a623"/></svg>`;
