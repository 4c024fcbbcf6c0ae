// The portal's card forms (templates/portal/_payments.html): Stripe.js's card field, a SetupIntent confirmed
// in the browser (the card goes to the provider, never to Tally), then the method's id posted to Tally.
// Forms marked data-json-form (pay with a saved card) are posted the same way, to follow 3-D Secure at once.
// The sentences shown come from the page (data-text-failed, data-text-offline), not from this file.
(function () {
  "use strict";

  function post(url, form, fields) {
    const body = new FormData();
    body.append("csrf_token", form.querySelector("input[name=csrf_token]").value);
    Object.keys(fields).forEach(function (name) { body.append(name, fields[name]); });
    return fetch(url, {method: "POST", body: body, credentials: "same-origin",
                       headers: {"Accept": "application/json"}})
      .then(function (response) {
        return response.json().catch(function () { return {error: form.dataset.textFailed}; });
      })
      .catch(function () { return {error: form.dataset.textOffline}; });
  }

  function follow(form, answer, show) {
    if (answer && answer.redirect) {
      window.location.assign(answer.redirect);
      return true;
    }
    show((answer && answer.error) || form.dataset.textFailed);
    return false;
  }

  function setUpCardForm(form) {
    if (typeof window.Stripe !== "function") {
      return;  // Stripe.js did not load: the button stays disabled
    }
    const stripe = window.Stripe(form.dataset.stripeKey);
    const card = stripe.elements().create("card", {hidePostalCode: true});
    const field = form.querySelector("[data-card-field]");
    const error = form.querySelector("[data-card-error]");
    const submit = form.querySelector("[data-card-submit]");
    const busy = form.querySelector("[data-card-busy]");
    let secret = form.dataset.clientSecret;
    card.mount(form.querySelector("[data-card-element]"));
    submit.disabled = false;

    function show(message) {
      error.textContent = message;
      error.hidden = !message;
      field.classList.toggle("has-error", Boolean(message));
    }
    function working(on) {
      submit.disabled = on;
      busy.hidden = !on;
    }
    card.on("change", function () { show(""); });

    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      show("");
      working(true);
      if (!secret) {  // a set-up already tried (declined): a fresh one for this try
        const fresh = await post(form.dataset.setupUrl, form, {});
        if (!fresh.client_secret) {
          working(false);
          show(fresh.error || form.dataset.textFailed);
          return;
        }
        secret = fresh.client_secret;
      }
      const result = await stripe.confirmCardSetup(secret, {payment_method: {card: card}});
      secret = null;
      if (!result || result.error) {
        working(false);
        show((result && result.error && result.error.message) || form.dataset.textFailed);
        return;
      }
      const method = result.setupIntent.payment_method;
      const answer = await post(form.action, form, {payment_method: typeof method === "string" ? method : method.id});
      if (!follow(form, answer, show)) {
        working(false);
      }
    });
  }

  function setUpJsonForm(form) {
    const error = form.querySelector("[data-form-error]");
    const submit = form.querySelector("button[type=submit]");
    function show(message) {
      error.textContent = message;
      error.hidden = !message;
    }
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      show("");
      submit.disabled = true;
      const fields = {};
      new FormData(form).forEach(function (value, name) { if (name !== "csrf_token") { fields[name] = value; } });
      const answer = await post(form.action, form, fields);
      if (!follow(form, answer, show)) {
        submit.disabled = false;
      }
    });
  }

  document.querySelectorAll("form[data-card-form]").forEach(setUpCardForm);
  document.querySelectorAll("form[data-json-form]").forEach(setUpJsonForm);
})();
