import { glyphHeight } from "./bitmap-font.ts";

/**
 * How big a pixel is on the panels the framebuffer renderer drives, so that text can be sized in millimetres: the
 * customer reads the screen at arm's length, and a bitmap scale that is fine on a 7-inch panel is unreadable on a
 * 2.8-inch one.
 *
 * Figures from each panel's diagonal and resolution (pitch = diagonal / diagonal in pixels): a 2.8-inch 320x240
 * ILI9341 module is 2.8 x 25.4 / 400 = 0.178 mm a pixel (the 4D Systems 4DLCD-28320240 data sheet gives 43.20 x
 * 57.60 mm active area, 0.180 mm dot pitch); a 3.5-inch 480x320 ILI9486 module is 3.5 x 25.4 / 577 = 0.154 mm a
 * pixel (73.9 x 49.3 mm); a 1.8-inch 160x128 ST7735 module is 1.8 x 25.4 / 205 = 0.223 mm a pixel. Other sizes are assumed to have the finest pitch of common small SPI panels (a 2.4-inch
 * 320x240 is 0.152 mm), so that text errs on the large side.
 */

const knownPanels: readonly { width: number; height: number; diagonalInches: number }[] = [
  { width: 160, height: 128, diagonalInches: 1.8 },
  { width: 320, height: 240, diagonalInches: 2.8 },
  { width: 480, height: 320, diagonalInches: 3.5 },
];

export const assumedPixelPitchMm = 0.15;

/** Main text: a glyph cell at least this high (the kiosk page's minimum font size too). */
export const minimumTextMm = 3.5;
/** Small print (the machine's name and id for support calls). */
export const minimumSmallPrintMm = 2;

/** Millimetres per pixel of a panel with this diagonal and resolution (square pixels). */
export function pitchFromDiagonal(width: number, height: number, diagonalInches: number): number {
  return (diagonalInches * 25.4) / Math.hypot(width, height);
}

/** Millimetres per pixel of a panel of this resolution, either orientation; config display.panelDiagonalInches wins. */
export function pixelPitchMm(width: number, height: number, diagonalInches?: number): number {
  if (diagonalInches !== undefined) return pitchFromDiagonal(width, height, diagonalInches);
  const panel = knownPanels.find(
    (known) => (known.width === width && known.height === height) || (known.width === height && known.height === width),
  );
  return panel ? pitchFromDiagonal(width, height, panel.diagonalInches) : assumedPixelPitchMm;
}

/** The smallest whole bitmap scale whose glyph cell is at least `millimetres` high. */
export function minimumScale(millimetres: number, pitchMm: number): number {
  return Math.max(1, Math.ceil(millimetres / pitchMm / glyphHeight - 1e-9));
}
