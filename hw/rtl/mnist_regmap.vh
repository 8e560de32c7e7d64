// mnist_regmap.vh: generated from pynq_mnist/hardware/regmap.py, do not edit.
// Regenerate with: python -m pynq_mnist.hardware.generate --write
`ifndef MNIST_REGMAP_VH
`define MNIST_REGMAP_VH

`define MNIST_ID_VALUE                   32'h4D4E0100  // ID register: 'MN', major, minor
`define MNIST_LAYER_SIZES_VALUE          32'h0A080310  // N_IN | N_HID<<12 | N_OUT<<24
`define MNIST_N_IN                       32'd784  // input pixels
`define MNIST_N_HID                      32'd128  // hidden neurons
`define MNIST_N_OUT                      32'd10  // outputs
`define MNIST_AXIL_ADDR_WIDTH            32'd18  // AXI4-Lite address bits
`define MNIST_AXIL_DATA_WIDTH            32'd32  // AXI4-Lite data bits
`define MNIST_AXIS_DATA_WIDTH            32'd32  // image/result stream bits
`define MNIST_REG_ID                     18'h00000  // Magic 'MN' [31:16], major [15:8], minor [7:0]
`define MNIST_REG_NUM_BANKS              18'h00004  // NUM_BANKS parameter (= MAC lanes)
`define MNIST_REG_LAYER_SIZES            18'h00008  // N_IN [11:0], N_HID [23:12], N_OUT [31:24]
`define MNIST_REG_CTRL                   18'h00010  // Control: START, SOFT_RESET (self-clearing), IRQ_EN
`define MNIST_REG_STATUS                 18'h00014  // Status: IDLE, BUSY, DONE (W1C), ERROR (W1C), START_REJECTED (W1C), DRAINING
`define MNIST_REG_ERROR_CAUSE            18'h00018  // Framing error causes of the last batch
`define MNIST_REG_N_IMAGES               18'h0001C  // Images in the next batch
`define MNIST_REG_SHIFT_L1               18'h00020  // Layer-1 requantization right shift
`define MNIST_REG_SHIFT_L2               18'h00024  // Seed-digit right shift of the logits
`define MNIST_REG_IMAGES_DONE            18'h00028  // Result records emitted in the current/last batch
`define MNIST_REG_CYCLES                 18'h0002C  // Clock cycles of the last batch: START to last result beat
`define MNIST_REG_OWNER_TAG              18'h00030  // Owner token; cleared by any weight-window or SHIFT_L1/SHIFT_L2 write
`define MNIST_REG_SPACE_BYTES            18'h00100  // registers below this offset
`define MNIST_CTRL_START_BIT             32'd0  // write 1 to start a batch (self-clearing)
`define MNIST_CTRL_SOFT_RESET_BIT        32'd1  // write 1 to abort and return to idle (self-clearing)
`define MNIST_CTRL_IRQ_EN_BIT            32'd2  // interrupt = STATUS.DONE & IRQ_EN
`define MNIST_STATUS_IDLE_BIT            32'd0  // engine idle (not busy, not draining)
`define MNIST_STATUS_BUSY_BIT            32'd1  // batch in progress
`define MNIST_STATUS_DONE_BIT            32'd2  // batch done (W1C, cleared by START)
`define MNIST_STATUS_ERROR_BIT           32'd3  // framing error (W1C, cleared by START)
`define MNIST_STATUS_START_REJECTED_BIT  32'd4  // a START arrived while busy or draining (W1C; cleared by START and SOFT_RESET)
`define MNIST_STATUS_DRAINING_BIT        32'd5  // SOFT_RESET is draining the input packet to TLAST
`define MNIST_ERR_EARLY_TLAST_BIT        32'd0  // TLAST before the last beat
`define MNIST_ERR_MISSING_TLAST_BIT      32'd1  // no TLAST on the last beat (extra beats)
`define MNIST_ERR_BAD_TKEEP_BIT          32'd2  // TKEEP != 4'hF
`define MNIST_ERR_ZERO_IMAGES_BIT        32'd3  // START with N_IMAGES = 0
`define MNIST_SHIFT_WIDTH                32'd5  // SHIFT_L1/SHIFT_L2 field width
`define MNIST_WEIGHT_WINDOW_OFFSET       18'h20000  // weight window base
`define MNIST_WEIGHT_WINDOW_BYTES        32'd101632  // (784 + 10) * 128
`define MNIST_WIN_WORD_WIDTH             32'd15  // bits of a window word index
`define MNIST_W2_WORD_BASE               32'd25088  // window word index of W2[0][0]
`define MNIST_RESULT_WORDS_PER_IMAGE     32'd11  // 10 logits + digit word
`define MNIST_RESULT_DIGIT_LSB           32'd0  // argmax(logits), lowest index
`define MNIST_RESULT_DIGIT_WIDTH         32'd4
`define MNIST_RESULT_SEED_DIGIT_LSB      32'd4  // argmax(clamp(logits >> SHIFT_L2)), lowest index
`define MNIST_RESULT_SEED_DIGIT_WIDTH    32'd4
`define MNIST_RESULT_INDEX_LSB           32'd8  // image index in batch mod 2^16
`define MNIST_RESULT_INDEX_WIDTH         32'd16
`define MNIST_RESULT_ERROR_LSB           32'd31  // image not (completely) received
`define MNIST_RESULT_ERROR_WIDTH         32'd1

`endif  // MNIST_REGMAP_VH
