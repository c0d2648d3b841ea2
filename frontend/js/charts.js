// The charts, one module each, sharing the frame and axes of axis.js. Each is redrawn from the
// data it is given, fits its container's width, and carries a text alternative (role="img" +
// aria-label + <title>). Colours and sizes are CSS custom properties (dashboard.css, "Charts").

export { drawTimeline, drawStateLegend, plotWidth, STATES } from "./timeline.js";
export { drawHourly } from "./hourly.js";
export { drawUtilizationBars } from "./bars.js";
export { drawConfidence, drawModelLegend, seriesStyle, seriesSwatch } from "./confidence.js";
