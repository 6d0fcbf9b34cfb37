package dev.starattn.app.cli;

import dev.starattn.model.SinkProbe;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.geom.Rectangle2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import javax.imageio.ImageIO;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.LookupPaintScale;
import org.jfree.chart.renderer.xy.XYBlockRenderer;
import org.jfree.chart.title.PaintScaleLegend;
import org.jfree.chart.ui.RectangleEdge;
import org.jfree.data.xy.DefaultXYZDataset;

/** The heatmaps of {@code inspect sinks}: layers down, heads across, mass on a fixed 0..1 colour scale, so two models' pictures compare. */
final class SinkPlot {
    private static final int PANEL_W = 520, H = 560;

    private SinkPlot() {}

    static void write(Path png, SinkProbe.Masses prompt, SinkProbe.Masses block) throws IOException {
        System.setProperty("java.awt.headless", "true");
        int panels = block == null ? 1 : 2;
        BufferedImage img = new BufferedImage(PANEL_W * panels, H, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, img.getWidth(), H);
        heatmap(String.format("mass on BOS, %d-token prompt (mean %.3f)", prompt.tokens(), prompt.meanFirst()), prompt.first())
                .draw(g, new Rectangle2D.Double(0, 0, PANEL_W, H));
        if (block != null) {
            heatmap(String.format("block [%d, %d) without anchor: mass on its first token (mean %.3f)", block.startPosition(),
                    block.startPosition() + block.tokens(), block.meanFirst()), block.first())
                    .draw(g, new Rectangle2D.Double(PANEL_W, 0, PANEL_W, H));
        }
        g.dispose();
        if (!ImageIO.write(img, "png", png.toFile())) throw new IOException("no PNG writer for " + png);
    }

    private static JFreeChart heatmap(String title, double[][] m) {
        int layers = m.length, heads = m[0].length;
        double[][] xyz = new double[3][layers * heads];
        for (int l = 0; l < layers; l++) {
            for (int h = 0; h < heads; h++) {
                int i = l * heads + h;
                xyz[0][i] = h;
                xyz[1][i] = l;
                xyz[2][i] = m[l][h];
            }
        }
        DefaultXYZDataset data = new DefaultXYZDataset();
        data.addSeries("mass", xyz);
        LookupPaintScale scale = new LookupPaintScale(0, 1.0001, Color.WHITE);
        for (int s = 0; s <= 20; s++) {
            float f = s / 20f;
            scale.add(f, new Color(1f - 0.85f * f, 1f - 0.75f * f, 1f - 0.2f * f));
        }
        XYBlockRenderer r = new XYBlockRenderer();
        r.setPaintScale(scale);
        NumberAxis x = new NumberAxis("head");
        x.setStandardTickUnits(NumberAxis.createIntegerTickUnits());
        x.setRange(-0.5, heads - 0.5);
        NumberAxis y = new NumberAxis("layer");
        y.setStandardTickUnits(NumberAxis.createIntegerTickUnits());
        y.setRange(-0.5, layers - 0.5);
        y.setInverted(true);
        XYPlot plot = new XYPlot(data, x, y, r);
        plot.setBackgroundPaint(Color.WHITE);
        JFreeChart chart = new JFreeChart(title, JFreeChart.DEFAULT_TITLE_FONT.deriveFont(13f), plot, false);
        NumberAxis legendAxis = new NumberAxis("mass");
        legendAxis.setRange(0, 1);
        PaintScaleLegend legend = new PaintScaleLegend(scale, legendAxis);
        legend.setPosition(RectangleEdge.RIGHT);
        chart.addSubtitle(legend);
        chart.setBackgroundPaint(Color.WHITE);
        return chart;
    }
}
