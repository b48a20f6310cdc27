// Passkeys on the verification pages: the one place the pages need script, because WebAuthn is a
// browser API with no form equivalent. Everything else works without this file, and so does the
// page: the passkey parts stay hidden (and the password form stays) when script is off or the
// browser has no WebAuthn. Served from 'self' as a file, after @simplewebauthn/browser's bundle
// (webauthn.js); the Content-Security-Policy allows no inline script.
//
// Each passkey form carries its WebAuthn options (JSON, made by the server for this browser) in
// data-options. On submit the browser's authenticator is asked, its answer goes into the form's
// hidden `response` field, and the form is posted the ordinary way (Post/Redirect/Get).
'use strict';

(function () {
  var webauthn = window.SimpleWebAuthnBrowser;
  if (!webauthn || !webauthn.browserSupportsWebAuthn()) return;

  var parts = document.querySelectorAll('[data-passkey]');
  for (var i = 0; i < parts.length; i++) parts[i].hidden = false;

  var forms = document.querySelectorAll('form[data-passkey-form]');
  for (var j = 0; j < forms.length; j++) {
    (function (form) {
      var busy = false;
      var problem = form.querySelector('[data-passkey-problem]');
      form.addEventListener('submit', function (event) {
        event.preventDefault();
        if (busy) return;
        busy = true;
        if (problem) problem.hidden = true;
        var optionsJSON = JSON.parse(form.getAttribute('data-options'));
        var ask =
          form.getAttribute('data-passkey-form') === 'register'
            ? webauthn.startRegistration({ optionsJSON: optionsJSON })
            : webauthn.startAuthentication({ optionsJSON: optionsJSON });
        ask.then(
          function (response) {
            form.querySelector('input[name="response"]').value = JSON.stringify(response);
            // submit() posts without firing this listener again.
            form.submit();
          },
          function () {
            // Cancelled, timed out or refused by the authenticator: say so, let them try again.
            busy = false;
            if (problem) problem.hidden = false;
          },
        );
      });
    })(forms[j]);
  }
})();
