using System.Runtime.Intrinsics.X86;
using DigitParity.Data;
using DigitParity.Engine;

namespace DigitParity.Training;

/// <summary>
/// Where every image of a training set is zero, derived once per run instead of once per step and worker: per image
/// its row mask (a bit per non-zero pixel, as <see cref="ActiveDepth.NonZeroMasks"/>) and its tile bits (a bit per
/// tile of 5 pixels holding a non-zero, as <see cref="ActiveDepth.TileMasks"/>), side by side. A step copies 17 words an
/// image (60,000 images: 8 MB, built in a few ms) where deriving them cost each worker ~6 µs a batch.
/// </summary>
internal sealed class ImageMasks
{
    private readonly ulong[] _words;
    private readonly int _maskWords, _tileWords;

    /// <summary>Indexes every image of <paramref name="data"/>.</summary>
    public ImageMasks(LabeledDataset data)
    {
        int features = data.Data.FeatureCount;
        _maskWords = ActiveDepth.MaskWords(features);
        _tileWords = ActiveDepth.TileWords(features);
        int perImage = _maskWords + _tileWords;
        _words = new ulong[checked(data.Count * perImage)];
        // A chunk of images at a time through the same code a step would run: bytes → masks → tile-mask table.
        const int Chunk = 256;
        var indices = new int[Chunk];
        var pixels = new byte[Chunk * features];
        var masks = new ulong[Chunk * _maskWords];
        var tiles = new ulong[_tileWords * ActiveDepth.TileStride(Chunk)];
        for (int first = 0; first < data.Count; first += Chunk)
        {
            int count = Math.Min(Chunk, data.Count - first);
            for (int b = 0; b < count; b++) indices[b] = first + b;
            data.GatherPixelBytes(indices.AsSpan(0, count), pixels, masks, _maskWords);
            ActiveDepth.TileMasks(masks, features, count, 0, count, tiles);
            int stride = ActiveDepth.TileStride(count); // the table's row stride for `count` rows
            for (int b = 0; b < count; b++)
            {
                Span<ulong> image = _words.AsSpan((first + b) * perImage, perImage);
                masks.AsSpan(b * _maskWords, _maskWords).CopyTo(image);
                for (int w = 0; w < _tileWords; w++) image[_maskWords + w] = tiles[w * stride + b];
            }
        }
    }

    /// <summary>
    /// For the batch of samples <paramref name="indices"/>: row b's mask into <c>masks[b · MaskWords ..]</c> and its tile
    /// bits into the word-major table <c>tileMasks[w · tileStride + b]</c>, as IndexRows would write them.
    /// </summary>
    public void Gather(ReadOnlySpan<int> indices, Span<ulong> masks, Span<ulong> tileMasks, int tileStride)
    {
        if (masks.Length < (long)indices.Length * _maskWords) throw new ArgumentException("masks is too small for the batch.", nameof(masks));
        if (tileStride < indices.Length || tileMasks.Length < (long)_tileWords * tileStride)
            throw new ArgumentException("tileMasks is too small for the batch.", nameof(tileMasks));
        int perImage = _maskWords + _tileWords;
        for (int b = 0; b < indices.Length; b++)
        {
            ReadOnlySpan<ulong> image = _words.AsSpan(indices[b] * perImage, perImage);
            image[.._maskWords].CopyTo(masks.Slice(b * _maskWords, _maskWords));
            for (int w = 0; w < _tileWords; w++) tileMasks[w * tileStride + b] = image[_maskWords + w];
        }
    }

    /// <summary>Starts loading the entries of samples <paramref name="indices"/> into the cache (with the images, a step ahead).</summary>
    public unsafe void Prefetch(ReadOnlySpan<int> indices)
    {
        if (!Sse.IsSupported) return;
        int perImage = _maskWords + _tileWords;
        fixed (ulong* words = _words)
            foreach (int index in indices)
            {
                byte* entry = (byte*)(words + (nint)index * perImage);
                Sse.Prefetch1(entry);
                Sse.Prefetch1(entry + 64);
                Sse.Prefetch1(entry + perImage * sizeof(ulong) - 1);
            }
    }
}
