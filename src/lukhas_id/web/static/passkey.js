// ΛiD passkeys: the browser side of the WebAuthn ceremonies (sign-in, adding a passkey, confirming it's you).
// Served by ΛiD itself; no framework, no CDN. Buttons carry their endpoints and CSRF token as data-* attributes:
//   data-begin, data-complete, data-csrf, and optionally data-return-to, data-step-up, data-username-field.
"use strict";
(function () {
  function b64urlToBuffer(value) {
    const base64 = value.replace(/-/g, "+").replace(/_/g, "/");
    const padded = base64 + "===".slice((base64.length + 3) % 4);
    const binary = atob(padded);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes.buffer;
  }

  function bufferToB64url(buffer) {
    const bytes = new Uint8Array(buffer);
    let binary = "";
    for (let i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  // Options JSON (base64url members) -> the objects navigator.credentials takes.
  function creationOptions(json) {
    if (window.PublicKeyCredential && PublicKeyCredential.parseCreationOptionsFromJSON) {
      return PublicKeyCredential.parseCreationOptionsFromJSON(json);
    }
    const options = Object.assign({}, json, {
      challenge: b64urlToBuffer(json.challenge),
      user: Object.assign({}, json.user, { id: b64urlToBuffer(json.user.id) }),
    });
    options.excludeCredentials = (json.excludeCredentials || []).map(function (c) {
      return Object.assign({}, c, { id: b64urlToBuffer(c.id) });
    });
    return options;
  }

  function requestOptions(json) {
    if (window.PublicKeyCredential && PublicKeyCredential.parseRequestOptionsFromJSON) {
      return PublicKeyCredential.parseRequestOptionsFromJSON(json);
    }
    const options = Object.assign({}, json, { challenge: b64urlToBuffer(json.challenge) });
    options.allowCredentials = (json.allowCredentials || []).map(function (c) {
      return Object.assign({}, c, { id: b64urlToBuffer(c.id) });
    });
    return options;
  }

  // PublicKeyCredential -> the JSON the server takes (credential.toJSON() where the browser has it).
  function credentialJSON(credential) {
    if (typeof credential.toJSON === "function") return credential.toJSON();
    const r = credential.response;
    const response = { clientDataJSON: bufferToB64url(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = bufferToB64url(r.attestationObject);
      response.transports = typeof r.getTransports === "function" ? r.getTransports() : [];
    } else {
      response.authenticatorData = bufferToB64url(r.authenticatorData);
      response.signature = bufferToB64url(r.signature);
      if (r.userHandle) response.userHandle = bufferToB64url(r.userHandle);
    }
    return {
      id: credential.id,
      rawId: bufferToB64url(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || null,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: response,
    };
  }

  async function post(url, csrf, body) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrf-token": csrf },
      body: JSON.stringify(body),
    });
    let data = {};
    try {
      data = await response.json();
    } catch (e) {
      data = {};
    }
    if (!response.ok) {
      throw new Error(data.error_description || data.error || "The request failed (" + response.status + ").");
    }
    return data;
  }

  function show(button, message) {
    const target = document.getElementById(button.dataset.status || "passkey-status");
    if (target) target.textContent = message;
  }

  async function signIn(button) {
    const field = button.dataset.usernameField ? document.getElementById(button.dataset.usernameField) : null;
    const begin = { return_to: button.dataset.returnTo || null, step_up: button.dataset.stepUp === "true" };
    if (field && field.value.trim()) begin.username = field.value.trim();
    const options = await post(button.dataset.begin, button.dataset.csrf, begin);
    const credential = await navigator.credentials.get({ publicKey: requestOptions(options.publicKey) });
    const result = credentialJSON(credential);
    result.return_to = button.dataset.returnTo || null;
    const done = await post(button.dataset.complete, button.dataset.csrf, result);
    window.location.assign(done.redirect);
  }

  async function add(button) {
    const nameField = button.dataset.nameField ? document.getElementById(button.dataset.nameField) : null;
    const options = await post(button.dataset.begin, button.dataset.csrf, {});
    const credential = await navigator.credentials.create({ publicKey: creationOptions(options.publicKey) });
    const result = credentialJSON(credential);
    if (nameField && nameField.value.trim()) result.name = nameField.value.trim();
    await post(button.dataset.complete, button.dataset.csrf, result);
    window.location.reload();
  }

  function wire(id, action) {
    const button = document.getElementById(id);
    if (!button) return;
    if (!window.PublicKeyCredential) {
      button.disabled = true;
      show(button, "This browser cannot use passkeys.");
      return;
    }
    button.hidden = false;
    button.addEventListener("click", async function () {
      button.disabled = true;
      show(button, "");
      try {
        await action(button);
      } catch (error) {
        show(button, error && error.name === "NotAllowedError" ? "The passkey request was cancelled." : String(error.message || error));
      } finally {
        button.disabled = false;
      }
    });
  }

  wire("passkey-login", signIn);
  wire("passkey-step-up", signIn);
  wire("passkey-add", add);
})();
