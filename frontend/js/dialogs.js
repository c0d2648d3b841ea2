// The page's two dialogs: the token a server asks for, and reloading the demo data.

const $ = (id) => document.getElementById(id);

/**
 * Ask for a token in a dialog; resolves to what was entered, or "" when the person cancels.
 * `reason` is "needed" (the server asked for one) or "rejected" (the last one was refused);
 * `base` is the API's origin when it is another server's, `say` sets the page's status line.
 */
export function askToken(reason, { base, say }) {
  const dialog = $("token-dialog");
  const form = $("token-form");
  const input = $("token-input");
  const error = $("token-error");
  error.textContent = reason === "rejected" ? "That token was not accepted. Enter another." : "";
  error.hidden = reason !== "rejected";
  input.value = "";
  if (base) {
    // The page was pointed at another server (?api=): say where the token would go.
    $("token-hint").textContent = `The token is sent to ${base}, and kept in this browser tab until it is closed.`;
  }
  say("This server needs a token to show its figures.");
  return new Promise((resolve) => {
    const finish = (token) => {
      form.removeEventListener("submit", onSubmit);
      dialog.removeEventListener("close", onClose);
      if (dialog.open) dialog.close();
      resolve(token);
    };
    const onSubmit = (event) => {
      event.preventDefault();
      const token = input.value.trim();
      if (!token) {
        error.textContent = "Enter the token.";
        error.hidden = false;
        input.focus();
        return;
      }
      say("Loading figures…");
      finish(token);
    };
    const onClose = () => finish(""); // Cancel, or Escape
    form.addEventListener("submit", onSubmit);
    dialog.addEventListener("close", onClose);
    dialog.showModal();
    input.focus();
  });
}

/**
 * Wire the "reload demo data" dialog: it asks for the admin token when the server needs one
 * (`needsToken()`), warns before the demo would replace events it did not load, and calls
 * `loaded()` once the demo is in. The token is kept in memory only, for the page's life.
 */
export function wireSeedDialog({ api, needsToken, say, loaded }) {
  const dialog = $("seed-dialog");
  const form = $("seed-form");
  const tokenField = $("seed-token-field");
  const tokenInput = $("seed-token");
  const error = $("seed-error");
  const warning = $("seed-warning");
  const confirm = $("seed-confirm");
  const confirmLabel = confirm.textContent;
  let adminToken = "";
  let replaceAll = false; // the server holds events the demo did not load, and the person was told

  const showError = (text) => {
    error.textContent = text;
    error.hidden = !text;
  };

  const setReplaceAll = (others) => {
    replaceAll = others !== null;
    warning.hidden = !replaceAll;
    confirm.classList.toggle("btn-danger", replaceAll);
    confirm.classList.toggle("btn-primary", !replaceAll);
    confirm.textContent = replaceAll ? "Delete everything and load demo" : confirmLabel;
    if (replaceAll) {
      const count = Number.isFinite(others) ? `${others} event${others === 1 ? "" : "s"}` : "events";
      warning.textContent = `This server holds ${count} that the demo did not load — real data, perhaps. `
        + "Loading the demo deletes them, with every other event, worker and workstation. They cannot be brought back.";
    }
  };

  $("reload-demo").addEventListener("click", () => {
    showError("");
    setReplaceAll(null);
    tokenField.hidden = !(needsToken() || tokenField.dataset.asked === "1");
    tokenInput.value = adminToken;
    if (api.base) {
      // The page was pointed at another server (?api=): say where the token would go.
      $("seed-token-hint").textContent = `The token is sent to ${api.base}. Enter it only if you trust that server.`;
    }
    confirm.disabled = false;
    dialog.showModal();
    (tokenField.hidden ? confirm : tokenInput).focus();
  });
  $("seed-cancel").addEventListener("click", () => dialog.close());

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = tokenField.hidden ? adminToken : tokenInput.value.trim();
    if (!tokenField.hidden && !token) {
      showError("Enter the admin token.");
      tokenInput.focus();
      return;
    }
    confirm.disabled = true;
    showError("");
    say("Loading demo data…");
    try {
      const result = await api.seed(token, { replaceAll });
      adminToken = token;
      dialog.close();
      say(`Demo data loaded: ${result.workers} workers, ${result.workstations} workstations, ${result.events} events.`);
      loaded();
    } catch (problem) {
      confirm.disabled = false;
      say("");
      if (problem.status === 409) {
        setReplaceAll(problem.problem ? problem.problem.other_events : undefined);
        $("seed-cancel").focus(); // the safe choice is the one Enter takes
      } else if (problem.status === 401) {
        tokenField.hidden = false;
        tokenField.dataset.asked = "1";
        showError("This server needs the admin token to load demo data.");
        tokenInput.focus();
      } else if (problem.status === 403 && !tokenField.hidden) {
        adminToken = "";
        showError("That token was not accepted.");
        tokenInput.select();
        tokenInput.focus();
      } else {
        showError(problem.down ? `The API can’t be reached: ${problem.message}` : problem.message);
      }
    }
  });
}
