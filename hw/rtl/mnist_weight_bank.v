`resetall
`timescale 1ns / 1ps
`default_nettype none

// One 8-bit weight bank: one write port (AXI weight window), one read port
// (engine, or window read-back while idle). Read data is registered twice:
// the RAM output latch and an output register (BRAM DOB_REG or fabric FFs).
module mnist_weight_bank #(
    // words in the bank: 794 * (128 / NUM_BANKS); 794..25408
    parameter DEPTH = 1588
) (
    input  wire                      clk,
    input  wire                      wr_en,
    input  wire [$clog2(DEPTH)-1:0]  wr_addr,
    input  wire [7:0]                wr_data,
    input  wire [$clog2(DEPTH)-1:0]  rd_addr,
    output wire [7:0]                rd_data
);

localparam ADDR_WIDTH = $clog2(DEPTH);

(* ram_style = "block" *)
reg [7:0] mem [0:DEPTH-1];

reg [7:0] mem_q_reg;
reg [7:0] rd_data_reg;

assign rd_data = rd_data_reg;

always @(posedge clk) begin
    if (wr_en) begin
        mem[wr_addr] <= wr_data;
    end
    mem_q_reg <= mem[rd_addr];
    rd_data_reg <= mem_q_reg;
end

initial begin
    if (DEPTH < 2 || ADDR_WIDTH > 16) begin
        $error("%m: DEPTH=%0d out of range", DEPTH);
        $finish;
    end
end

endmodule

`resetall
