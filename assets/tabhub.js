// tabhub.js: placeholder, replaced by the JavaScript client.
export const VERSION = "0.0.0";
