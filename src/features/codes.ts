/** Codes of category values below a field's levels, in `RawColumns` (a module of its own: both the transform and its users import it). */
export const MISSING_CODE = -1;
export const UNKNOWN_CODE = -2;
