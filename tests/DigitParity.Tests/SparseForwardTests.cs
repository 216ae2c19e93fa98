using DigitParity.Engine;
using DigitParity.Model;

namespace DigitParity.Tests;

/// <summary>A prediction's fc1 over each row's own non-zero pixels against the tiled forward pass training runs.</summary>
public sealed class SparseForwardTests
{
    // The tiled pass visits every input that is non-zero in one of a tile's five rows, the listed pass only the row's
    // own: the logits must be the same bits, for 1 and 2 workers, a batch that is not a whole number of tiles, a trunk
    // whose fc1 has a part panel (200 = 3 × 64 + 8) and a column-split layer above it, and a layer wider than the input.
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void ListedRowsGiveTheTiledPassBits(int workers)
    {
        var trained = TestData.Trained.Value;
        var wide = new MultiTaskNetwork(ModelConfig.Tutorial with { Hidden = [200, 100, 64] });
        wide.Initialize(4);
        // A hidden layer wider than the 784 inputs: its rows' lists are the longest.
        var wider = new MultiTaskNetwork(ModelConfig.Tutorial with { Hidden = [1000, 64] });
        wider.Initialize(5);
        foreach (var network in new[] { trained, wide, wider })
        {
            const int batch = 37;
            float[] tiled = Logits(network, batch, workers, training: true, out bool tiledListed);
            float[] listed = Logits(network, batch, workers, training: false, out bool listedListed);
            Assert.False(tiledListed);
            Assert.True(listedListed);
            Assert.True(tiled.AsSpan().SequenceEqual(listed), "the logits differ");
            Assert.Contains(listed, v => v != 0f);
        }
    }

    // Every length around the 32-byte and 8-float blocks; -0 is a zero.
    [Fact]
    public void ListNonZeroFindsEveryNonZeroInOrder()
    {
        var rng = new Rng(3);
        foreach (int n in new[] { 0, 1, 7, 8, 9, 31, 32, 33, 64, 100, 784 })
        {
            byte[] bytes = new byte[n];
            float[] floats = new float[n];
            for (int i = 0; i < n; i++)
            {
                int draw = rng.NextInt(4);
                bytes[i] = draw == 0 ? (byte)0 : (byte)(1 + rng.NextInt(255));
                floats[i] = draw switch { 0 => 0f, 1 => -0f, _ => rng.NextInt(6) + 1f - 4f * (i % 2) };
            }
            int[] list = new int[n];
            int count = SparseRows.ListNonZero(bytes, list);
            Assert.Equal(Enumerable.Range(0, n).Where(i => bytes[i] != 0), list[..count]);
            count = SparseRows.ListNonZero(floats, list);
            Assert.Equal(Enumerable.Range(0, n).Where(i => floats[i] != 0f), list[..count]);
        }
    }

    private static float[] Logits(MultiTaskNetwork network, int batch, int workers, bool training, out bool listsRows)
    {
        var ws = network.CreateWorkspace(64, training, listRows: training ? null : true);
        var test = TestData.Mnist.Test;
        for (int b = 0; b < batch; b++) UnitFloats.FromBytes(test.Image(100 + b), ws.Input.AsSpan(b * 784, 784));
        using var pool = new WorkerPool(workers);
        pool.Run(new ForwardPass(network, ws, pool, batch));
        listsRows = ws.ListsRows;
        return ws.Logits.Span[..(batch * network.Config.HeadWidth)].ToArray();
    }

    private sealed class ForwardPass(MultiTaskNetwork network, Workspace ws, WorkerPool pool, int batch) : IParallelWork
    {
        public void Execute(int worker)
        {
            var (r0, r1) = StepSchedule.Rows(batch, worker, pool.Count);
            network.IndexInput(ws, batch, r0, r1);
            pool.Barrier();
            network.Forward(ws, batch, pool, worker);
            pool.Barrier();
        }
    }
}
