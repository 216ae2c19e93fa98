using SkiaSharp;

namespace DigitParity.Data;

/// <summary>Images drawn by a program, white on a black 280 × 280 canvas (the drawing page's size) and prepared as image files and the page's drawings are.</summary>
internal static class GeneratedImage
{
    /// <summary>Side of the canvas, in pixels.</summary>
    public const int Side = 280;

    /// <summary>What <paramref name="draw"/> paints on a black canvas, as 784 MNIST-style bytes (<see cref="DigitImage.FromGray"/>).</summary>
    public static byte[] Draw(Action<SKCanvas> draw)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(Side, Side, SKColorType.Gray8, SKAlphaType.Opaque));
        using (var canvas = new SKCanvas(bitmap))
        {
            canvas.Clear(SKColors.Black);
            draw(canvas);
        }
        return DigitImage.FromGray(bitmap.GetPixelSpan().ToArray(), Side, Side, "generated image");
    }
}
