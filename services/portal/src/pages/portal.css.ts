/**
 * The portal's only stylesheet, served from /portal/assets/portal.css (the CSP allows styles
 * from 'self' only; no inline style). Colours meet WCAG AA contrast on white; focus is always
 * visible; the layout is one column on a phone.
 */
export const PORTAL_CSS = `
*{box-sizing:border-box}
html{font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1a1a1a;background:#fff}
body{margin:0}
a{color:#0b57d0}
a:focus,button:focus,input:focus,select:focus,textarea:focus,summary:focus{outline:3px solid #f59e0b;outline-offset:2px}
.skip{position:absolute;left:-9999px}.skip:focus{left:8px;top:8px;background:#fff;padding:8px}
header{background:#1e293b;color:#fff;padding:8px 16px;display:flex;flex-wrap:wrap;gap:8px 16px;align-items:center}
header a{color:#fff}
header nav ul{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:4px 16px}
header nav a[aria-current=page]{font-weight:700;text-decoration-thickness:3px}
header form{margin:0 0 0 auto}
header button{background:transparent;color:#fff;border:1px solid #fff}
main{max-width:1100px;margin:0 auto;padding:16px}
h1{font-size:1.6rem;margin:.5rem 0 1rem}
table{border-collapse:collapse;width:100%;margin:0 0 1rem}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #cbd5e1;vertical-align:top}
th{background:#f1f5f9}
.table{overflow-x:auto}
label{display:block;font-weight:600;margin:.75rem 0 .25rem}
.hint{color:#475569;font-size:.9rem;margin:.1rem 0}
input[type=text],input[type=email],input[type=password],input[type=number],input[type=search],select,textarea{display:block;width:100%;max-width:40rem;padding:8px;font:inherit;border:1px solid #64748b;border-radius:4px}
textarea{min-height:8rem}
input[type=checkbox]{width:1.2rem;height:1.2rem;vertical-align:middle}
.check label{display:inline;font-weight:400}
button,.button{display:inline-block;font:inherit;padding:8px 16px;border-radius:4px;border:1px solid #0b57d0;background:#0b57d0;color:#fff;cursor:pointer;text-decoration:none;margin:.5rem .5rem .5rem 0}
button.secondary{background:#fff;color:#0b57d0}
button.danger{background:#b91c1c;border-color:#b91c1c}
.error{color:#b91c1c;font-weight:600}
.errors{border:2px solid #b91c1c;padding:8px 16px;margin:0 0 1rem;border-radius:4px}
.notice{border:2px solid #0b57d0;padding:8px 16px;margin:0 0 1rem;border-radius:4px;background:#eff6ff}
.empty{color:#475569;font-style:italic}
.ok{color:#166534;font-weight:600}.bad{color:#b91c1c;font-weight:600}.unknown{color:#475569}
code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.9rem;background:#f1f5f9;padding:2px 4px;border-radius:3px;overflow-wrap:anywhere}
pre{padding:8px;white-space:pre-wrap}
.message{border-left:4px solid #94a3b8;padding:4px 12px;margin:0 0 12px}
.message.reply{border-color:#0b57d0;background:#f8fafc}
.meta{color:#475569;font-size:.85rem}
.chart{max-width:100%;height:auto}
.inline{display:inline}
@media (max-width:600px){th,td{padding:4px}header form{margin:0}}
`;
