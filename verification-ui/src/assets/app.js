// Progressive enhancement for the verification pages. Every page works without this file; it
// only makes typing the code easier and keeps a decision from being sent twice. Served from
// 'self' as a file: the Content-Security-Policy allows no inline script.
'use strict';

(function () {
  var CODE_LENGTH = 8;

  // Formats the code as it is typed: capitals, a dash after four letters, the way the device
  // shows it. The server ignores case, spaces and dashes anyway (RFC 8628 §6.1).
  function formatCode(input) {
    var value = input.value;
    var caret = input.selectionStart === null ? value.length : input.selectionStart;
    var lettersBeforeCaret = value.slice(0, caret).toUpperCase().replace(/[^A-Z]/g, '').length;
    var letters = value.toUpperCase().replace(/[^A-Z]/g, '').slice(0, CODE_LENGTH);
    var formatted = letters.length > 4 ? letters.slice(0, 4) + '-' + letters.slice(4) : letters;
    if (formatted === value) return;
    input.value = formatted;
    if (document.activeElement === input) {
      var letterIndex = Math.min(lettersBeforeCaret, CODE_LENGTH);
      var position = letterIndex > 4 ? letterIndex + 1 : letterIndex;
      input.setSelectionRange(position, position);
    }
  }

  var codeInputs = document.querySelectorAll('input[data-user-code]');
  for (var i = 0; i < codeInputs.length; i++) {
    (function (input) {
      input.addEventListener('input', function () {
        formatCode(input);
      });
    })(codeInputs[i]);
  }

  // A double tap on Approve would send the decision twice; the second would only find the code
  // already used. Let the first submission through and ignore the rest.
  var onceForms = document.querySelectorAll('form[data-submit-once]');
  for (var j = 0; j < onceForms.length; j++) {
    (function (form) {
      var sent = false;
      form.addEventListener('submit', function (event) {
        if (sent) event.preventDefault();
        sent = true;
      });
    })(onceForms[j]);
  }
})();
