// The Svelte example's entry: mounts App.svelte. Built (with the svelte
// compiler) and served by examples/frontend.mjs.

import { mount } from "svelte";
import App from "./App.svelte";

mount(App, { target: /** @type {HTMLElement} */ (document.getElementById("app")) });
