/** The API group and version of Konstruct's custom resources. */
export const GROUP = "konstruct.io";
export const VERSION = "v1alpha1";
export const API_VERSION = `${GROUP}/${VERSION}`;
