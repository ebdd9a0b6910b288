// Bundled by `vite build`; the page's text is in index.html so a plain
// HTTP client sees it without running this script.
document.getElementById('built').textContent = `built by vite, mode ${import.meta.env.MODE}`;
