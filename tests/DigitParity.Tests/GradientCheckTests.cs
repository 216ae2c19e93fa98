using DigitParity.Engine;
using DigitParity.Model;
using DigitParity.Tasks;

namespace DigitParity.Tests;

/// <summary>Analytic gradients (float, our engine) against central finite differences of a double-precision reference.</summary>
public sealed class GradientCheckTests
{
    private const double Eps = 1e-6;

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void LinearBackwardMatchesFiniteDifferences(int workers)
    {
        // L = Σ r ⊙ (x·W + b): dW = xᵀr, db = Σ_b r, dx = r·Wᵀ. 130 outputs = panels of 64, 64 and 2.
        const int batch = 7, inputs = 70, outputs = 130;
        var rng = new Rng(11);
        var layout = new ParameterLayout();
        var layer = new Linear(layout, "fc", inputs, outputs);
        var store = new ParameterStore(layout);
        layer.Initialize(store, rng);
        float[] x = GemmTests.Random(rng, batch * inputs), r = GemmTests.Random(rng, batch * outputs);
        float[] y = new float[batch * outputs], dx = new float[batch * inputs], wT = new float[inputs * outputs];
        for (int w = 0; w < workers; w++) layer.Forward(store, x, y, batch, relu: false, StepSchedule.Share(layer, batch, w, workers));
        float[] packed = new float[batch * outputs];
        for (int w = 0; w < workers; w++) layer.Backward(store, x, r, dx, packed, wT, batch, StepSchedule.Share(layer, batch, w, workers));

        double[] W = layer.ReadWeight(store).Select(v => (double)v).ToArray();
        double[] B = store.Value(layer.Bias).ToArray().Select(v => (double)v).ToArray();
        double[] X = x.Select(v => (double)v).ToArray();
        double Loss()
        {
            double sum = 0;
            for (int b = 0; b < batch; b++)
                for (int j = 0; j < outputs; j++)
                {
                    double yj = B[j];
                    for (int i = 0; i < inputs; i++) yj += X[b * inputs + i] * W[i * outputs + j];
                    sum += r[b * outputs + j] * yj;
                }
            return sum;
        }

        // Forward agrees with the reference.
        for (int b = 0; b < batch; b++)
            for (int j = 0; j < outputs; j++)
            {
                double yj = B[j];
                for (int i = 0; i < inputs; i++) yj += X[b * inputs + i] * W[i * outputs + j];
                Assert.Equal(yj, y[b * outputs + j], 1e-4);
            }
        var dW = store.Gradient(layer.Weight).ToArray();
        for (int i = 0; i < inputs; i += 3)
            for (int j = 0; j < outputs; j += 7)
                AssertClose(Numeric(W, i * outputs + j, Loss), dW[layer.WeightIndex(i, j)], $"dW[{i},{j}]");
        var db = store.Gradient(layer.Bias).ToArray();
        for (int j = 0; j < outputs; j++) AssertClose(Numeric(B, j, Loss), db[j], $"db[{j}]");
        for (int k = 0; k < X.Length; k += 5) AssertClose(Numeric(X, k, Loss), dx[k], $"dx[{k}]");
    }

    [Fact]
    public void ReluBackwardMatchesFiniteDifferences()
    {
        var rng = new Rng(12);
        float[] x = GemmTests.Random(rng, 64), r = GemmTests.Random(rng, 64);
        float[] y = x.Select(v => MathF.Max(v, 0)).ToArray();
        float[] dx = new float[64];
        Activations.ReluBackward(y, r, dx);
        double[] X = x.Select(v => (double)v).ToArray();
        double Loss() => X.Select((v, i) => r[i] * Math.Max(v, 0)).Sum();
        for (int i = 0; i < X.Length; i++) AssertClose(Numeric(X, i, Loss), dx[i], $"dx[{i}]");
    }

    // smoothing: the targets (1 − ε) · onehot + ε / K, whose loss is −Σ_c target_c · log softmax_c.
    [Theory]
    [InlineData(0f)]
    [InlineData(0.1f)]
    public void SoftmaxCrossEntropyMatchesFiniteDifferencesAndIsStable(float smoothing)
    {
        // Two heads (3 and 2 classes) side by side; logits include huge values that overflow a naive exp.
        const int batch = 4, width = 5;
        float[] logits = [1, 2, 3, 0.5f, -1, 1000, 999, -1000, 50, 52, -3, 0, 3, 7, 7, 0.1f, 0.2f, 0.3f, -0.2f, 0.4f];
        int[][] labels = [[2, 0, 1, 0], [1, 0, 1, 1]];
        int[][] predictions = [new int[batch], new int[batch]];
        float[] grad = new float[batch * width];
        double[] rowLosses = new double[batch * 2], losses = new double[2];
        SoftmaxCrossEntropy.Forward(logits, width, [0, 3], [3, 2], labels, predictions, 0, 2, [1f / batch, 0.5f / batch], smoothing, grad, rowLosses);
        SoftmaxCrossEntropy.Forward(logits, width, [0, 3], [3, 2], labels, predictions, 2, batch, [1f / batch, 0.5f / batch], smoothing, grad, rowLosses);
        SoftmaxCrossEntropy.SumRows(rowLosses, batch, losses);

        double[] L = logits.Select(v => (double)v).ToArray();
        double Reference(int task)
        {
            int offset = task == 0 ? 0 : 3, classes = task == 0 ? 3 : 2;
            double sum = 0;
            for (int b = 0; b < batch; b++)
            {
                var row = Enumerable.Range(0, classes).Select(c => L[b * width + offset + c]).ToArray();
                double max = row.Max(), logSum = max + Math.Log(row.Sum(v => Math.Exp(v - max)));
                for (int c = 0; c < classes; c++)
                    sum += ((c == labels[task][b] ? 1 - smoothing : 0) + smoothing / classes) * (logSum - row[c]);
            }
            return sum;
        }
        Assert.Equal(Reference(0), losses[0], 1e-4);
        Assert.Equal(Reference(1), losses[1], 1e-4);
        Assert.All(losses, l => Assert.True(double.IsFinite(l)));
        Assert.Equal(new[] { 2, 0, 2, 2 }, predictions[0]);
        Assert.Equal(new[] { 0, 1, 0, 1 }, predictions[1]);
        double Total() => (Reference(0) + 0.5 * Reference(1)) / batch; // head "b" weighted 0.5
        for (int i = 0; i < L.Length; i++) AssertClose(Numeric(L, i, Total), grad[i], $"dlogits[{i}]");
    }

    // rowTail: a workspace sized for the workers, so that the narrow tail (fc2 and the heads) passes its input
    // gradients row by row; otherwise the workers split those layers' columns.
    [Theory]
    [InlineData(1, false)]
    [InlineData(2, false)]
    [InlineData(2, true)]
    public void WholeMultiTaskLossMatchesFiniteDifferences(int threads, bool rowTail)
    {
        // Trunk 9 → 70 (two panels) → 5, heads "a" (3 classes) and "b" (2 classes); every parameter is checked.
        TaskDefinition[] tasks = [new("a", 3, d => d % 3), new("b", 2, d => d % 2)];
        var network = new MultiTaskNetwork(new ModelConfig(9, [70, 5], tasks));
        network.Initialize(7);
        network.SetTaskWeight("a", 2f);
        network.SetTaskWeight("b", 0.5f);
        const int batch = 6;
        var rng = new Rng(8);
        var ws = rowTail ? network.CreateWorkspace(batch, threads, privateInputs: false) : network.CreateWorkspace(batch);
        float[] x = GemmTests.Random(rng, batch * 9);
        for (int i = 0; i < x.Length; i += 3) x[i] = 0f; // zeros exercise the sparse paths of fc1
        for (int i = 27; i < 36; i++) x[i] = 0f;          // and a whole zero sample
        x.CopyTo(ws.Input.Span);
        int[] digits = [0, 1, 2, 3, 4, 5];
        for (int t = 0; t < 2; t++)
            for (int b = 0; b < batch; b++) ws.Labels[t][b] = tasks[t].LabelOf(digits[b]);
        using var pool = new WorkerPool(threads);
        var step = new GradientStep(network, ws, pool, batch);
        pool.Run(step);

        var layers = network.Trunk.Append(network.Heads).ToArray();
        var weights = layers.Select(l => l.ReadWeight(network.Parameters).Select(v => (double)v).ToArray()).ToArray();
        var biases = layers.Select(l => network.Parameters.Value(l.Bias).ToArray().Select(v => (double)v).ToArray()).ToArray();
        double Loss()
        {
            double total = 0;
            for (int b = 0; b < batch; b++)
            {
                double[] h = x.Skip(b * 9).Take(9).Select(v => (double)v).ToArray();
                h = Dense(h, layers, weights, biases);
                foreach (var (offset, classes, t, weight) in new[] { (0, 3, 0, 2.0), (3, 2, 1, 0.5) })
                {
                    var row = h.Skip(offset).Take(classes).ToArray();
                    double max = row.Max();
                    total += weight * (max + Math.Log(row.Sum(v => Math.Exp(v - max))) - row[ws.Labels[t][b]]);
                }
            }
            return total / batch;
        }
        Assert.Equal(Loss(), (2 * step.TaskLosses[0] + 0.5 * step.TaskLosses[1]) / batch, 1e-4);
        for (int l = 0; l < layers.Length; l++)
        {
            var dW = network.Parameters.Gradient(layers[l].Weight).ToArray();
            for (int i = 0; i < layers[l].In; i++)
                for (int j = 0; j < layers[l].Out; j++)
                    AssertClose(Numeric(weights[l], i * layers[l].Out + j, Loss), dW[layers[l].WeightIndex(i, j)], $"layer {l} dW[{i},{j}]");
            var db = network.Parameters.Gradient(layers[l].Bias).ToArray();
            for (int j = 0; j < layers[l].Out; j++) AssertClose(Numeric(biases[l], j, Loss), db[j], $"layer {l} db[{j}]");
        }
    }

    // The naive double-precision reference of the dense layers: ReLU after every layer but the last (the heads).
    internal static double[] Dense(double[] h, Linear[] layers, double[][] weights, double[][] biases)
    {
        for (int l = 0; l < layers.Length; l++)
        {
            var next = new double[layers[l].Out];
            for (int j = 0; j < next.Length; j++)
            {
                double s = biases[l][j];
                for (int i = 0; i < h.Length; i++) s += h[i] * weights[l][i * next.Length + j];
                next[j] = l < layers.Length - 1 ? Math.Max(s, 0) : s;
            }
            h = next;
        }
        return h;
    }

    internal static double Numeric(double[] values, int index, Func<double> loss)
    {
        double saved = values[index];
        values[index] = saved + Eps;
        double plus = loss();
        values[index] = saved - Eps;
        double minus = loss();
        values[index] = saved;
        return (plus - minus) / (2 * Eps);
    }

    internal static void AssertClose(double expected, double actual, string what, double relative = 1e-3)
    {
        double tolerance = 1e-4 + relative * Math.Abs(expected);
        Assert.True(Math.Abs(expected - actual) <= tolerance, $"{what}: analytic {actual}, numeric {expected}");
    }

    /// <summary>Forward, loss and backward without an update, as the trainer runs them.</summary>
    internal sealed class GradientStep(MultiTaskNetwork network, Workspace ws, WorkerPool pool, int batch) : IParallelWork
    {
        public double[] TaskLosses { get; } = new double[network.Tasks.Count];

        public void Execute(int worker)
        {
            var (r0, r1) = StepSchedule.Rows(batch, worker, pool.Count);
            network.IndexInput(ws, batch, r0, r1, worker, step: pool);
            pool.Barrier();
            network.ForwardLoss(ws, batch, pool, worker);
            network.Backward(ws, batch, pool, worker, update: null);
            pool.Barrier();
            if (worker == 0) network.SumLosses(ws, batch, TaskLosses);
        }
    }
}
