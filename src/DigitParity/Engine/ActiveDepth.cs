using System.Numerics;
using System.Runtime.Intrinsics;

namespace DigitParity.Engine;

/// <summary>
/// Depth lists for <see cref="Gemm.MultiplySparse"/>: which steps of a product's depth a 5-row tile must visit
/// because its operand is non-zero there. Most MNIST pixels are 0, so fc1's forward product visits ~40 % of its
/// 784 inputs per tile of 5 images, and its weight gradient ~30 % of the batch per tile of 5 pixels.
/// Both start from a bit mask per row of the operand (bit c set when column c is non-zero).
/// </summary>
public static unsafe class ActiveDepth
{
    /// <summary>Words per row mask for <paramref name="columns"/> columns: one bit a column, plus a zero word to read past the end.</summary>
    public static int MaskWords(int columns) => (columns + 63) / 64 + 1;

    /// <summary>Sets masks[r·words ..] to the non-zero bits of rows [<paramref name="firstRow"/>, <paramref name="endRow"/>) of a (row stride lda).</summary>
    public static void NonZeroMasks(ReadOnlySpan<float> a, int lda, int columns, int firstRow, int endRow, Span<ulong> masks)
    {
        int words = MaskWords(columns);
        ArgumentOutOfRangeException.ThrowIfNegative(firstRow);
        ArgumentOutOfRangeException.ThrowIfLessThan(endRow, firstRow);
        ArgumentOutOfRangeException.ThrowIfLessThan(lda, columns);
        if (endRow > firstRow && a.Length < (long)(endRow - 1) * lda + columns) throw new ArgumentException("a is too short for the rows.", nameof(a));
        if (masks.Length < (long)endRow * words) throw new ArgumentException("masks is too short for the rows.", nameof(masks));
        masks[(firstRow * words)..(endRow * words)].Clear();
        fixed (float* pa = a)
        fixed (ulong* pm = masks)
        {
            for (int r = firstRow; r < endRow; r++)
            {
                float* row = pa + (nint)r * lda;
                ulong* bits = pm + (nint)r * words;
                int c = 0;
                if (Vector512.IsHardwareAccelerated)
                {
                    for (; c + 16 <= columns; c += 16)
                    {
                        // -0 counts as zero: it adds nothing to a product.
                        ulong nonZero = ~Vector512.Equals(Vector512.Load(row + c), Vector512<float>.Zero).ExtractMostSignificantBits() & 0xFFFF;
                        bits[c >> 6] |= nonZero << (c & 63);
                    }
                }
                for (; c < columns; c++)
                    if (row[c] != 0f) bits[c >> 6] |= 1UL << (c & 63);
            }
        }
    }

    /// <summary>
    /// For A (m × k) read row by row: for the tiles [<paramref name="firstTile"/>, <paramref name="endTile"/>) — rows 5t..5t+4 —
    /// lists the depth steps (columns) where any of the tile's rows is non-zero, ascending, into <c>lists[t·k ..]</c>,
    /// with the count in counts[t]. <paramref name="masks"/> holds A's row masks (<see cref="NonZeroMasks"/>).
    /// </summary>
    public static void ForRows(ReadOnlySpan<ulong> masks, int m, int k, Span<int> lists, Span<int> counts, int firstTile, int endTile)
    {
        int words = MaskWords(k), tiles = Tiles(m);
        CheckTiles(masks, (long)m * words, lists, counts, tiles, k, firstTile, endTile);
        fixed (ulong* pm = masks)
        fixed (int* pl = lists)
        {
            for (int t = firstTile; t < endTile; t++)
            {
                int r0 = t * Gemm.TileRows, r1 = Math.Min(m, r0 + Gemm.TileRows), found = 0;
                int* list = pl + (nint)t * k;
                for (int w = 0; w < words; w++)
                {
                    ulong any = 0;
                    for (int r = r0; r < r1; r++) any |= pm[(nint)r * words + w];
                    for (; any != 0; any &= any - 1) list[found++] = w * 64 + BitOperations.TrailingZeroCount(any);
                }
                counts[t] = found;
            }
        }
    }

    /// <summary>
    /// For op(A) = Aᵀ with A stored k × m: for the tiles [<paramref name="firstTile"/>, <paramref name="endTile"/>) of op(A) —
    /// columns 5t..5t+4 of A — lists the rows of A where one of those columns is non-zero, ascending, into
    /// <c>lists[t·k ..]</c>, with the count in counts[t]. <paramref name="masks"/> holds A's k row masks.
    /// </summary>
    public static void ForColumns(ReadOnlySpan<ulong> masks, int m, int k, Span<int> lists, Span<int> counts, int firstTile, int endTile)
    {
        int words = MaskWords(m), tiles = Tiles(m);
        CheckTiles(masks, (long)k * words, lists, counts, tiles, k, firstTile, endTile);
        fixed (ulong* pm = masks)
        fixed (int* pl = lists)
        {
            for (int t = firstTile; t < endTile; t++)
            {
                int bit = t * Gemm.TileRows, word = bit >> 6, offset = bit & 63, n = 0;
                int* list = pl + (nint)t * k;
                ulong* w = pm + word;
                for (int p = 0; p < k; p++, w += words)
                {
                    // The tile's 5 bits, taking the next word's low bits when they straddle two. The append is
                    // branch-free: always store, advance by 0 or 1 (before row p the count is at most p, so the
                    // store stays inside the tile's list).
                    ulong v = ((w[0] >> offset) | ((w[1] << 1) << (63 - offset))) & 31;
                    list[n] = p;
                    n += (int)((v + 31) >> 5);
                }
                counts[t] = n;
            }
        }
    }

    /// <summary>Number of 5-row tiles of <paramref name="rows"/> rows.</summary>
    public static int Tiles(int rows) => (rows + Gemm.TileRows - 1) / Gemm.TileRows;

    private static void CheckTiles(ReadOnlySpan<ulong> masks, long maskLength, Span<int> lists, Span<int> counts, int tiles, int k, int firstTile, int endTile)
    {
        if ((uint)firstTile > (uint)endTile || endTile > tiles) throw new ArgumentOutOfRangeException(nameof(endTile), $"tiles [{firstTile}, {endTile}) outside 0-{tiles}.");
        if (masks.Length < maskLength) throw new ArgumentException("masks is too short.", nameof(masks));
        if (lists.Length < (long)tiles * k || counts.Length < tiles) throw new ArgumentException("lists or counts is too short.", nameof(lists));
    }
}
