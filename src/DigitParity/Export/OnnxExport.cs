using DigitParity.IO;
using DigitParity.Model;
using Google.Protobuf;

namespace DigitParity.Export;

/// <summary>
/// Writes a <see cref="MultiTaskNetwork"/> as an ONNX model (opset 17, IR version 8). One input,
/// <c>pixels</c> [N, InputSize] float, each value <c>pixel / 255</c> (the normalization is not in the graph); per task
/// two outputs, <c>TASK_logits</c> and <c>TASK_probabilities</c> (softmax, of logits / T where the head was calibrated). Layers are ONNX <c>Gemm</c> (+ <c>Relu</c>),
/// the heads one <c>Gemm</c> sliced per task. The protobuf is written field by field with Google.Protobuf's
/// <see cref="CodedOutputStream"/> following onnx.proto's field numbers.
/// </summary>
public static class OnnxExport
{
    private const int FloatType = 1, Int64Type = 7, AttributeInt = 2, AttributeInts = 7;

    /// <summary>Writes <paramref name="network"/> to <paramref name="path"/> atomically.</summary>
    public static void Write(string path, MultiTaskNetwork network)
    {
        ArgumentNullException.ThrowIfNull(network);
        byte[] model = Model(network);
        AtomicFile.Write(path, stream => stream.Write(model));
    }

    /// <summary>The serialized ModelProto.</summary>
    public static byte[] Model(MultiTaskNetwork network)
    {
        ArgumentNullException.ThrowIfNull(network);
        return Message(o =>
        {
            o.WriteTag(1, WireFormat.WireType.Varint); o.WriteInt64(8);               // ir_version
            o.WriteTag(2, WireFormat.WireType.LengthDelimited); o.WriteString("DigitParity"); // producer_name
            o.WriteTag(7, WireFormat.WireType.LengthDelimited); o.WriteBytes(Graph(network)); // graph
            o.WriteTag(8, WireFormat.WireType.LengthDelimited);                           // opset_import
            o.WriteBytes(Message(s => { s.WriteTag(1, WireFormat.WireType.LengthDelimited); s.WriteString(""); s.WriteTag(2, WireFormat.WireType.Varint); s.WriteInt64(17); }));
        }).ToByteArray();
    }

    private static ByteString Graph(MultiTaskNetwork network)
    {
        var nodes = new List<ByteString>();
        var initializers = new List<ByteString>();
        string x = "pixels";
        if (network.Convolutions.Count > 0)
        {
            // pixels (N, H·W) -> (N, 1, H, W); per stage Conv (OIHW, as our checkpoints), Relu, MaxPool 2×2 (and BatchNormalization);
            // then NCHW -> NHWC before Flatten, since our trunk reads the features channels last.
            int side = network.Config.ImageSide;
            initializers.Add(Int64Tensor("image.shape", [-1, 1, side, side]));
            nodes.Add(Node("Reshape", "image.reshape", [x, "image.shape"], ["image"]));
            x = "image";
            for (int l = 0; l < network.Convolutions.Count; l++)
            {
                var conv = network.Convolutions[l];
                string name = conv.Weight.Name[..conv.Weight.Name.LastIndexOf('.')];
                initializers.Add(FloatTensor(conv.Weight.Name, [conv.OutChannels, conv.InChannels, conv.Kernel, conv.Kernel], conv.ReadTorchWeight(network.Parameters.Values)));
                initializers.Add(FloatTensor(conv.Bias.Name, [conv.OutChannels], network.Parameters.Value(conv.Bias).ToArray()));
                nodes.Add(Node("Conv", name + ".conv", [x, conv.Weight.Name, conv.Bias.Name], [name + ".linear"], Ints("kernel_shape", conv.Kernel, conv.Kernel)));
                nodes.Add(Node("Relu", name + ".relu", [name + ".linear"], [name + ".relu"]));
                nodes.Add(Node("MaxPool", name + ".pool", [name + ".relu"], [name + ".out"], Ints("kernel_shape", 2, 2), Ints("strides", 2, 2)));
                x = name + ".out";
                if (network.Norms.Count == 0) continue;
                // BatchNormalization in inference mode (its default ε, 1e-5, is ours), by the running statistics.
                var norm = network.Norms[l];
                string[] inputs = [x, norm.Weight.Name, norm.Bias.Name, norm.RunningMean.Name, norm.RunningVariance.Name];
                foreach (var tensor in new[] { norm.Weight, norm.Bias, norm.RunningMean, norm.RunningVariance })
                    initializers.Add(FloatTensor(tensor.Name, [norm.Channels], network.Parameters.Value(tensor).ToArray()));
                string normName = norm.Weight.Name[..norm.Weight.Name.LastIndexOf('.')];
                nodes.Add(Node("BatchNormalization", normName, inputs, [normName + ".out"]));
                x = normName + ".out";
            }
            nodes.Add(Node("Transpose", "features.nhwc", [x], ["features.nhwc"], Ints("perm", 0, 2, 3, 1)));
            nodes.Add(Node("Flatten", "features.flatten", ["features.nhwc"], ["features"], ("axis", [1L], false)));
            x = "features";
        }
        var layers = network.Trunk.Append(network.Heads).ToArray();
        for (int l = 0; l < layers.Length; l++)
        {
            var layer = layers[l];
            string name = layer.Weight.Name[..layer.Weight.Name.LastIndexOf('.')];
            initializers.Add(FloatTensor(layer.Weight.Name, [layer.In, layer.Out], layer.ReadWeight(network.Parameters)));
            initializers.Add(FloatTensor(layer.Bias.Name, [layer.Out], network.Parameters.Value(layer.Bias).ToArray()));
            bool last = l == layers.Length - 1;
            string product = last ? "logits" : name + ".linear";
            nodes.Add(Node("Gemm", name + ".gemm", [x, layer.Weight.Name, layer.Bias.Name], [product]));
            if (!last)
            {
                nodes.Add(Node("Relu", name + ".relu", [product], [name + ".out"]));
                x = name + ".out";
            }
        }
        var outputs = new List<ByteString>();
        for (int t = 0; t < network.Tasks.Count; t++)
        {
            var task = network.Tasks[t];
            int start = network.TaskOffset(t);
            initializers.Add(Int64Tensor($"{task.Name}.starts", [start]));
            initializers.Add(Int64Tensor($"{task.Name}.ends", [start + task.ClassCount]));
            initializers.Add(Int64Tensor($"{task.Name}.axes", [1]));
            nodes.Add(Node("Slice", $"{task.Name}.slice", ["logits", $"{task.Name}.starts", $"{task.Name}.ends", $"{task.Name}.axes"], [$"{task.Name}_logits"]));
            string scores = $"{task.Name}_logits";
            if (network.Temperatures[t] != 1)
            {
                // A calibrated head: probabilities are softmax(logits / T), as Predictor computes them.
                initializers.Add(FloatTensor($"{task.Name}.temperature", [1], [(float)network.Temperatures[t]]));
                nodes.Add(Node("Div", $"{task.Name}.calibrate", [scores, $"{task.Name}.temperature"], [$"{task.Name}.calibrated"]));
                scores = $"{task.Name}.calibrated";
            }
            nodes.Add(Node("Softmax", $"{task.Name}.softmax", [scores], [$"{task.Name}_probabilities"], ("axis", [1L], false)));
            outputs.Add(ValueInfo($"{task.Name}_logits", task.ClassCount));
            outputs.Add(ValueInfo($"{task.Name}_probabilities", task.ClassCount));
        }
        return Message(o =>
        {
            foreach (var node in nodes) { o.WriteTag(1, WireFormat.WireType.LengthDelimited); o.WriteBytes(node); }
            o.WriteTag(2, WireFormat.WireType.LengthDelimited); o.WriteString("digitparity");
            foreach (var tensor in initializers) { o.WriteTag(5, WireFormat.WireType.LengthDelimited); o.WriteBytes(tensor); }
            o.WriteTag(11, WireFormat.WireType.LengthDelimited); o.WriteBytes(ValueInfo("pixels", network.Config.InputSize));
            foreach (var output in outputs) { o.WriteTag(12, WireFormat.WireType.LengthDelimited); o.WriteBytes(output); }
        });
    }

    // NodeProto: input = 1, output = 2, name = 3, op_type = 4, attribute = 5.
    private static (string Name, long[] Values, bool List) Ints(string name, params long[] values) => (name, values, true);

    private static ByteString Node(string op, string name, string[] inputs, string[] outputs, params (string Name, long[] Values, bool List)[] attributes)
        => Message(o =>
        {
            foreach (var input in inputs) { o.WriteTag(1, WireFormat.WireType.LengthDelimited); o.WriteString(input); }
            foreach (var output in outputs) { o.WriteTag(2, WireFormat.WireType.LengthDelimited); o.WriteString(output); }
            o.WriteTag(3, WireFormat.WireType.LengthDelimited); o.WriteString(name);
            o.WriteTag(4, WireFormat.WireType.LengthDelimited); o.WriteString(op);
            foreach (var a in attributes)
            {
                // AttributeProto: name = 1, i = 3, ints = 8, type = 20 (INT 2, INTS 7).
                o.WriteTag(5, WireFormat.WireType.LengthDelimited);
                o.WriteBytes(Message(s =>
                {
                    s.WriteTag(1, WireFormat.WireType.LengthDelimited); s.WriteString(a.Name);
                    if (a.List)
                        foreach (long v in a.Values) { s.WriteTag(8, WireFormat.WireType.Varint); s.WriteInt64(v); }
                    else
                    {
                        s.WriteTag(3, WireFormat.WireType.Varint); s.WriteInt64(a.Values[0]);
                    }
                    s.WriteTag(20, WireFormat.WireType.Varint); s.WriteInt32(a.List ? AttributeInts : AttributeInt);
                }));
            }
        });

    // TensorProto: dims = 1, data_type = 2, name = 8, raw_data = 9 (little-endian).
    private static ByteString FloatTensor(string name, long[] dims, float[] values)
    {
        byte[] raw = new byte[values.Length * sizeof(float)];
        for (int i = 0; i < values.Length; i++) System.Buffers.Binary.BinaryPrimitives.WriteSingleLittleEndian(raw.AsSpan(i * 4), values[i]);
        return Tensor(name, dims, FloatType, raw);
    }

    private static ByteString Int64Tensor(string name, long[] values)
    {
        byte[] raw = new byte[values.Length * sizeof(long)];
        for (int i = 0; i < values.Length; i++) System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(raw.AsSpan(i * 8), values[i]);
        return Tensor(name, [values.Length], Int64Type, raw);
    }

    private static ByteString Tensor(string name, long[] dims, int type, byte[] raw) => Message(o =>
    {
        foreach (long d in dims) { o.WriteTag(1, WireFormat.WireType.Varint); o.WriteInt64(d); }
        o.WriteTag(2, WireFormat.WireType.Varint); o.WriteInt32(type);
        o.WriteTag(8, WireFormat.WireType.LengthDelimited); o.WriteString(name);
        o.WriteTag(9, WireFormat.WireType.LengthDelimited); o.WriteBytes(ByteString.CopyFrom(raw));
    });

    // ValueInfoProto { name = 1, type = 2 { tensor_type = 1 { elem_type = 1, shape = 2 { dim = 1 { dim_param = 2 | dim_value = 1 } } } } }
    private static ByteString ValueInfo(string name, int width) => Message(o =>
    {
        o.WriteTag(1, WireFormat.WireType.LengthDelimited); o.WriteString(name);
        var batch = Message(d => { d.WriteTag(2, WireFormat.WireType.LengthDelimited); d.WriteString("N"); });
        var features = Message(d => { d.WriteTag(1, WireFormat.WireType.Varint); d.WriteInt64(width); });
        var shape = Message(s =>
        {
            s.WriteTag(1, WireFormat.WireType.LengthDelimited); s.WriteBytes(batch);
            s.WriteTag(1, WireFormat.WireType.LengthDelimited); s.WriteBytes(features);
        });
        var tensorType = Message(t =>
        {
            t.WriteTag(1, WireFormat.WireType.Varint); t.WriteInt32(FloatType);
            t.WriteTag(2, WireFormat.WireType.LengthDelimited); t.WriteBytes(shape);
        });
        o.WriteTag(2, WireFormat.WireType.LengthDelimited);
        o.WriteBytes(Message(t => { t.WriteTag(1, WireFormat.WireType.LengthDelimited); t.WriteBytes(tensorType); }));
    });

    private static ByteString Message(Action<CodedOutputStream> write)
    {
        using var buffer = new MemoryStream();
        using (var output = new CodedOutputStream(buffer, leaveOpen: true))
        {
            write(output);
            output.Flush();
        }
        return ByteString.CopyFrom(buffer.ToArray());
    }
}
